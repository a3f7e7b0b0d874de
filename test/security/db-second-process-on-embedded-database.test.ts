import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { bob, changeMergedEvent, mergedChange } from '../helpers/change-events.js';
import { runCli } from '../helpers/run-cli.js';
import { ServeProcess } from '../helpers/serve-process.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * Attack (issue 11, hole 9): `rollgate replay` on the PGlite folder a running `serve` used
 * recorded and ran a rollout, and after serve restarted it was gone. Only one process may open
 * an embedded database folder; every other one refuses, naming the holder.
 */
describe('one process at a time on an embedded database folder', () => {
  const tmp = tempDir('rollgate-db-lock-');
  const running: ServeProcess[] = [];
  afterEach(async () => {
    for (const p of running.splice(0)) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const envFor = (dataDir: string) => ({ PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', ROLLGATE_DATA_DIR: dataDir, ROLLGATE_POLICY_DIR: path.resolve('test/fixtures/policies') });
  async function serve(dataDir: string): Promise<ServeProcess> {
    const p = new ServeProcess(envFor(dataDir));
    running.push(p);
    await p.ready();
    return p;
  }
  const holderPattern = (pid: number) => new RegExp(`the embedded database in .* is in use by "rollgate serve" \\(pid ${pid} on host ${hostname()}, since \\d{4}-\\d\\d-\\d\\dT[^)]*\\): only one process may open it at a time`);

  it('refuses replay, migrate and audit verify while serve runs, naming serve; all work once it stopped', async () => {
    const dataDir = path.join(tmp, 'shared');
    const events = path.join(tmp, 'events.jsonl');
    writeFileSync(events, `${JSON.stringify(changeMergedEvent(mergedChange(4242, bob)))}\n`);
    const groups = path.join(tmp, 'groups.yaml');
    writeFileSync(groups, 'groups: { sre: [alice] }\n');
    const server = await serve(dataDir);
    const pid = server.child.pid!;

    for (const args of [['replay', events, '--groups', groups], ['migrate'], ['audit', 'verify']]) {
      const r = await runCli(args, envFor(dataDir));
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(holderPattern(pid));
    }
    // nothing the refused replay could have written
    expect(server.stdout).not.toContain('4242');

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    running.splice(running.indexOf(server), 1);
    expect(existsSync(path.join(dataDir, 'rollgate.lock'))).toBe(false);

    expect(await runCli(['migrate'], envFor(dataDir))).toMatchObject({ code: 0, stdout: 'database is up to date\n' });
    expect(await runCli(['audit', 'verify'], envFor(dataDir))).toMatchObject({ code: 0 });
  }, 180_000);

  it('a second serve on the same folder refuses and exits 1; the first keeps running', async () => {
    const dataDir = path.join(tmp, 'two-serves');
    const first = await serve(dataDir);
    const second = new ServeProcess(envFor(dataDir));
    running.push(second);
    const stderr: string[] = [];
    second.child.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
    expect(await second.exited).toBe(1);
    expect(stderr.join('')).toMatch(holderPattern(first.child.pid!));
    expect(first.child.exitCode).toBeNull();
    expect(JSON.parse(readFileSync(path.join(dataDir, 'rollgate.lock'), 'utf8'))).toMatchObject({ pid: first.child.pid });
  }, 180_000);

  it('takes over the lock of a holder that died without releasing it, and says so', async () => {
    const dataDir = path.join(tmp, 'crashed');
    const crashed = await serve(dataDir);
    const pid = crashed.child.pid!;
    crashed.child.kill('SIGKILL');
    await crashed.exited;
    running.splice(running.indexOf(crashed), 1);
    expect(JSON.parse(readFileSync(path.join(dataDir, 'rollgate.lock'), 'utf8'))).toMatchObject({ pid, host: hostname(), command: 'rollgate serve' });

    const r = await runCli(['migrate'], envFor(dataDir));
    expect(r).toMatchObject({ code: 0, stdout: 'database is up to date\n' });
    expect(r.stderr).toMatch(new RegExp(`took over the lock of the embedded database in .*: "rollgate serve" \\(pid ${pid} on host ${hostname()}, since [^)]+\\) is no longer running`));
    expect(existsSync(path.join(dataDir, 'rollgate.lock'))).toBe(false);
  }, 180_000);

  it('never takes over a lock held from another host', async () => {
    const dataDir = path.join(tmp, 'other-host');
    expect(await runCli(['migrate'], envFor(dataDir))).toMatchObject({ code: 0 });
    writeFileSync(path.join(dataDir, 'rollgate.lock'), JSON.stringify({ pid: 12345, host: 'elsewhere.example', command: 'rollgate serve', since: '2026-11-23T10:00:00.000Z' }));
    const r = await runCli(['migrate'], envFor(dataDir));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`is in use by "rollgate serve" (pid 12345 on host elsewhere.example, since 2026-11-23T10:00:00.000Z)`);
    expect(r.stderr).toContain(`if that process is gone, remove ${path.join(dataDir, 'rollgate.lock')}`);
  }, 120_000);
});
