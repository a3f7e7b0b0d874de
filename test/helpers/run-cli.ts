import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the `rollgate` command from source, as a user would run the bin: a real process, real exit code. */
export function runCli(args: readonly string[], env: Record<string, string> = {}, cwd = process.cwd()): Promise<CliResult> {
  const main = path.resolve('src/cli/main.ts');
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', main, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Starts the `rollgate` command from source as `rollgate … | cat` in bash (with pipefail, so the exit
 * status is rollgate's): its stdout is a real pipe, which Node writes asynchronously, unlike the
 * socket pair Node's own spawn would give it. The caller reads cat's output at its own pace.
 */
export function spawnCliThroughPipe(args: readonly string[], env: Record<string, string> = {}, cwd = process.cwd()): ChildProcessByStdio<null, Readable, Readable> {
  const command = [process.execPath, '--import', 'tsx', path.resolve('src/cli/main.ts'), ...args];
  return spawn('bash', ['-c', 'set -o pipefail; "$@" | cat', 'bash', ...command], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
