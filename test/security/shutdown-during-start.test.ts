import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';
import { tempDir } from '../helpers/temp-dir.js';

const dir = tempDir('rollgate-shutdown-start-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  /** Whether a process with serve's pid is still there after it ended. */
  readonly leftover: boolean;
}

function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `rollgate serve` as an operator starts it; SIGTERM as soon as `whenLogged` is in its log. */
async function serveAndStopAt(whenLogged: string, env: Record<string, string>): Promise<Ended> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'serve'], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', ROLLGATE_POLICY_DIR: path.resolve('test/fixtures/policies'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', () => {});
  const ended = new Promise<Ended>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, leftover: isAlive(child.pid) })));
  try {
    await waitFor(`"${whenLogged}" in the log`, () => stdout.includes(whenLogged), 30_000);
    child.kill('SIGTERM');
    return await Promise.race([ended, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`serve did not end within 25 s of SIGTERM; log:\n${stdout}`)), 25_000))]);
  } finally {
    // never leave a process behind, whatever the assertion said
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * Attack/loss: SIGTERM while `rollgate serve` was still starting (opening its database, running
 * migrations) killed it by the signal: no clean shutdown, and an exit a supervisor reads as a crash.
 */
describe('SIGTERM while rollgate serve is starting', () => {
  it('on the embedded database, right after the first log line: exits 0, saying it stopped during start', async () => {
    const ended = await serveAndStopAt('"msg":"policy loaded"', { ROLLGATE_DATA_DIR: path.join(dir, 'data') });
    expect({ code: ended.code, signal: ended.signal, leftover: ended.leftover }).toEqual({ code: 0, signal: null, leftover: false });
    expect(ended.stdout).toContain('"msg":"stopped during start"');
    expect(ended.stdout).not.toContain('"msg":"rollgate is serving"');
  }, 60_000);

  describe('on a PostgreSQL server that accepts connections and never answers', () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    let url: string;
    beforeAll(async () => {
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const address = silent.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      url = `postgres://rollgate:secret@127.0.0.1:${address.port}/rollgate`;
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it('a start stuck on the database is abandoned: exits 0, saying it stopped during start', async () => {
      const ended = await serveAndStopAt('"msg":"policy loaded"', { DATABASE_URL: url });
      expect({ code: ended.code, signal: ended.signal, leftover: ended.leftover }).toEqual({ code: 0, signal: null, leftover: false });
      expect(ended.stdout).toContain('"msg":"stopped during start"');
    }, 60_000);
  });
});
