import { execFile } from 'node:child_process';
import path from 'node:path';

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
