import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Record {
  readonly msg: string;
  readonly time: unknown;
  readonly level: unknown;
}

const folders: string[] = [];
afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** `rollgate serve` on embedded defaults with `LOG_FORMAT` set (or not), run until started and stopped with SIGTERM; its stdout records. */
async function serveLog(logFormat: string | undefined): Promise<{ code: number | null; records: Record[]; stderr: string }> {
  const tmp = tempDir('rollgate-log-format-');
  folders.push(tmp);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', PORT: '0', ROLLGATE_DATA_DIR: path.join(tmp, 'data'), LOG_LEVEL: 'info' };
  if (logFormat !== undefined) env.LOG_FORMAT = logFormat;
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor('the ready line or an exit', () => /rollgate is running at/.test(stderr) || child.exitCode !== null, 30_000);
    child.kill('SIGTERM');
    const code = await exited;
    const records = stdout.trim() === '' ? [] : stdout.trim().split('\n').map((line) => JSON.parse(line) as Record);
    return { code, records, stderr };
  } finally {
    child.kill('SIGKILL');
  }
}

describe('LOG_FORMAT', () => {
  it('iso: every record has an ISO-8601 UTC time and the level by name', async () => {
    const { code, records } = await serveLog('iso');
    expect(code).toBe(0);
    expect(records.map((r) => r.msg)).toEqual(expect.arrayContaining(['database ready', 'rollgate stopped']));
    for (const record of records) {
      expect(record.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Math.abs(Date.parse(record.time as string) - Date.now())).toBeLessThan(120_000);
      expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(record.level);
    }
    expect(records.find((r) => r.msg === 'rollgate stopped')?.level).toBe('info');
  });

  it('unset: pino’s own form stays the default, epoch milliseconds and level numbers', async () => {
    const { code, records } = await serveLog(undefined);
    expect(code).toBe(0);
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) {
      expect(typeof record.time).toBe('number');
      expect(typeof record.level).toBe('number');
    }
    expect(records.find((r) => r.msg === 'rollgate stopped')?.level).toBe(30);
  });

  it('another value: the start fails at once and names the setting and what it may be', async () => {
    const { code, records, stderr } = await serveLog('xml');
    expect(code).toBe(1);
    expect(records).toEqual([]);
    expect(stderr).toContain('LOG_FORMAT: Invalid option: expected one of "pino"|"iso"');
  });
});
