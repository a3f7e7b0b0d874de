import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../../src/execute/run-process.js';
import { tempDir } from '../helpers/temp-dir.js';

const env = { PATH: process.env.PATH ?? '' };
const node = process.execPath;

describe('runProcess', () => {
  it('passes each argv element as one argument, with no shell in between', async () => {
    const dir = tempDir('rollgate-argv-');
    const marker = path.join(dir, 'pwned');
    const hostile = `$(touch ${marker}); touch ${marker} && echo \`touch ${marker}\``;
    const r = await runProcess({ argv: [node, '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', hostile, 'a b'], cwd: dir, env, timeoutMs: 10_000 });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.outputTail)).toEqual([hostile, 'a b']);
    expect(existsSync(marker)).toBe(false);
  });

  it('reports the exit code and keeps only the tail of long output', async () => {
    const r = await runProcess({
      argv: [node, '-e', 'for (let i = 0; i < 5000; i++) console.log("line " + i); console.error("the end"); process.exit(4)'],
      cwd: tmpdir(),
      env,
      timeoutMs: 10_000,
      tailBytes: 1024,
    });
    expect(r.exitCode).toBe(4);
    expect(Buffer.byteLength(r.outputTail)).toBeLessThanOrEqual(1024 + 3);
    expect(r.outputTail).toContain('the end');
    expect(r.outputTail).not.toContain('line 0\n');
  });

  it('kills the whole process group on timeout', async () => {
    const dir = tempDir('rollgate-timeout-');
    const grandchildMarker = path.join(dir, 'grandchild-survived');
    // the child starts a grandchild that would write a file after 1.5 s if it survived
    const grandchild = `setTimeout(() => require('fs').writeFileSync(${JSON.stringify(grandchildMarker)}, 'x'), 1500)`;
    const script = `require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(grandchild)}], { stdio: 'ignore' }); setInterval(() => {}, 1000);`;
    const r = await runProcess({ argv: [node, '-e', script], cwd: dir, env, timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(existsSync(grandchildMarker)).toBe(false);
  });

  it('sends a stopped step SIGTERM once, then SIGKILL after the grace period', async () => {
    const dir = tempDir('rollgate-term-once-');
    const traps = path.join(dir, 'traps');
    // a program whose cleanup trap runs on every SIGTERM and which never exits by itself
    const r = await runProcess({ argv: ['/bin/sh', '-c', 'trap \'echo term >> "$0"\' TERM; while :; do sleep 0.05; done', traps], cwd: dir, env, timeoutMs: 200, graceMs: 1000 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(readFileSync(traps, 'utf8')).toBe('term\n');
    rmSync(dir, { recursive: true, force: true });
  });

  it('says when the program cannot be started', async () => {
    const r = await runProcess({ argv: ['./no-such-program'], cwd: tmpdir(), env, timeoutMs: 1000 });
    expect(r.spawnError).toBe('cannot start ./no-such-program: ENOENT');
  });

  it('gives the process only the environment it is handed', async () => {
    process.env.ROLLGATE_TEST_SECRET = 'hunter2';
    const r = await runProcess({ argv: [node, '-e', 'console.log(process.env.ROLLGATE_TEST_SECRET ?? "absent")'], cwd: tmpdir(), env, timeoutMs: 10_000 });
    delete process.env.ROLLGATE_TEST_SECRET;
    expect(r.outputTail.trim()).toBe('absent');
  });
});
