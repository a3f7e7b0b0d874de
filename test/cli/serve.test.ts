import { spawn } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('rollgate serve on embedded defaults', () => {
  it('starts with no Gerrit and no database server, says what to configure, serves HTTP, and stops on SIGTERM', async () => {
    const dataDir = path.join(tempDir('rollgate-serve-'), 'data');
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'serve'], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', ROLLGATE_DATA_DIR: dataDir, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    const url = await waitFor('the ready line', () => /rollgate is running at (http:\/\/\S+) on the embedded database/.exec(stderr)?.[1], 30_000);
    expect(stderr).toContain('To reach a Gerrit, set GERRIT_URL, GERRIT_HTTP_USER, GERRIT_HTTP_PASSWORD_FILE');
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${url}/api/rollouts`)).json()).toEqual({ rollouts: [] });
    const notFound = await fetch(`${url}/api/rollouts/999`);
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({ error: 'no rollout 999', code: 'not_found' });
    expect((await fetch(`${url}/api/rollouts/abc`)).status).toBe(400);
    // every rollout status is a valid filter, and a wrong one is named
    for (const status of ['rolled_back', 'superseded', 'cancelled', 'waiting', 'expired']) expect((await fetch(`${url}/api/rollouts?status=${status}`)).status).toBe(200);
    const badFilter = await fetch(`${url}/api/rollouts?status=exploded`);
    expect(badFilter.status).toBe(400);
    expect(((await badFilter.json()) as { error: string }).error).toMatch(/^status: /);

    // logs are structured JSON, one record per line
    const records = stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; backend?: string });
    expect(records.find((r) => r.msg === 'database ready')?.backend).toBe('pglite');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toContain('"msg":"rollgate stopped"');
  });
});

describe('rollgate serve reloads its policy files on SIGHUP', () => {
  it('uses a changed policy from then on, and refuses a broken one with the problem while the one in use stays', async () => {
    const tmp = tempDir('rollgate-reload-');
    const policyDir = path.join(tmp, 'policies');
    cpSync(path.resolve('test/fixtures/policies'), policyDir, { recursive: true });
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'serve'], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', ROLLGATE_DATA_DIR: path.join(tmp, 'data'), ROLLGATE_POLICY_DIR: policyDir, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const url = await waitFor('the ready line', () => /rollgate is running at (http:\/\/\S+)/.exec(stderr)?.[1], 30_000);
      const policyInUse = async () => /rollgate_policy_info\{version="([^"]+)"\} 1/.exec(await (await fetch(`${url}/metrics`)).text())?.[1];
      const records = () => stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; from?: string; to?: string; problem?: string; version?: string; rules?: number });
      const first = await policyInUse();
      expect(first).toMatch(/^[0-9a-f]{12,}$/);

      // a new rule: the policy in use changes without a restart
      const rollouts = path.join(policyDir, 'rollouts.yaml');
      writeFileSync(rollouts, `${readFileSync(rollouts, 'utf8')}\n  - name: web-staging\n    match: { project: payments/web, branch: main }\n    workflow: deploy-service\n    environment: staging\n    approval: { roles: [prod-deployer] }\n`);
      child.kill('SIGHUP');
      const reloaded = await waitFor('the reload', () => records().find((r) => r.msg === 'policy reloaded'));
      expect(reloaded.from).toBe(first);
      expect(reloaded.to).not.toBe(first);
      expect(await policyInUse()).toBe(reloaded.to);

      // a broken file is refused, named with what is wrong; the policy just loaded stays in use
      writeFileSync(rollouts, 'rollouts:\n  - name: broken\n    match: [\n');
      child.kill('SIGHUP');
      const refused = await waitFor('the refusal', () => records().find((r) => r.msg === 'policy reload refused: the policy in use stays'));
      expect(refused.problem).toContain('rollouts.yaml');
      expect(refused.version).toBe(reloaded.to);
      expect(await policyInUse()).toBe(reloaded.to);
      expect(await (await fetch(`${url}/metrics`)).text()).toContain('rollgate_policy_reload_failures_total 1');
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
