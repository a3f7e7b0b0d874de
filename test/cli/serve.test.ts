import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';

describe('rollgate serve on embedded defaults', () => {
  it('starts with no Gerrit and no database server, says what to configure, serves HTTP, and stops on SIGTERM', async () => {
    const dataDir = path.join(mkdtempSync(path.join(tmpdir(), 'rollgate-serve-')), 'data');
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
