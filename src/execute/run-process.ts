import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { StepProcesses, type Containment } from './step-processes.js';

/** What one `run` step's process did. */
export interface ProcessResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly durationMs: number;
  /** The last bytes of stdout and stderr interleaved, for the report and the database. */
  readonly outputTail: string;
  /** Set when the program could not be started at all (not found, not executable). */
  readonly spawnError?: string;
}

export interface RunProcessOptions {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly tailBytes?: number;
  /** Aborting stops everything the step started, as a timeout does (a cancelled rollout, a shutdown). */
  readonly signal?: AbortSignal;
  /** Given every piece of output as it comes (stdout and stderr as they interleave), for storing it live. */
  readonly onOutput?: (chunk: Buffer) => void;
  /** Told the process group id once the program started (it leads its own group). */
  readonly onSpawn?: (pgid: number) => void;
  /** `walk` forgoes a cgroup even where one could be made (tests of the fallback). */
  readonly containment?: Containment;
  /** SIGTERM to SIGKILL, for what a stopped or finished step leaves running. */
  readonly graceMs?: number;
}

/** How long output still in the pipes may take to arrive once the program and its leftovers are gone. */
const PIPE_GRACE_MS = 300;

/**
 * Runs a program from an argv array, never through a shell: change data passed as an argument
 * stays one argument whatever characters it holds. The step is over when its own program exits
 * (not when its output pipes close: a process it left behind may hold them open for ever), and
 * then nothing it started is left running. A timeout or abort stops all of it, including
 * processes that left its process group (see step-processes.ts for how they are found).
 */
export function runProcess(options: RunProcessOptions): Promise<ProcessResult> {
  const [program, ...args] = options.argv;
  const tailBytes = options.tailBytes ?? 16 * 1024;
  const started = performance.now();
  const resolved = resolveProgram(program!, options.cwd, options.env.PATH);
  if ('error' in resolved) {
    return Promise.resolve({ exitCode: null, signal: null, timedOut: false, durationMs: 0, outputTail: '', spawnError: `cannot start ${program}: ${resolved.error}` });
  }
  const processes = new StepProcesses(options.containment);
  return new Promise((resolve) => {
    const tail = new OutputTail(tailBytes);
    let timedOut = false;
    let spawnError: string | undefined;
    // the program keeps its argv[0]; a cgroup wrapper execs the resolved path in its place
    const [command, ...commandArgs] = processes.argv([resolved.path, ...args], options.env);
    const child = spawn(command!, commandArgs, {
      ...(command === resolved.path ? { argv0: program } : {}),
      cwd: options.cwd,
      env: { ...options.env, ...processes.markerEnv },
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) {
      processes.attach(child.pid);
      options.onSpawn?.(child.pid);
    }
    const output = (chunk: Buffer) => {
      tail.push(chunk);
      options.onOutput?.(chunk);
    };
    child.stdout.on('data', output);
    child.stderr.on('data', output);
    const stop = () => void processes.stop(options.graceMs);
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, options.timeoutMs);
    const onAbort = () => stop();
    if (options.signal?.aborted) stop();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      spawnError = `cannot start ${program}: ${(err as NodeJS.ErrnoException).code ?? err.message}`;
    });
    const pipesClosed = new Promise<void>((r) => child.on('close', () => r()));
    let ended = false;
    const end = async (code: number | null, signal: NodeJS.Signals | null) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // the program is gone: whatever it left running goes too, and its output gets a moment to drain
      await processes.stop(options.graceMs);
      processes.release();
      await Promise.race([pipesClosed, new Promise((r) => setTimeout(r, PIPE_GRACE_MS))]);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({
        exitCode: code,
        signal,
        timedOut,
        durationMs: Math.round(performance.now() - started),
        outputTail: tail.text(),
        ...(spawnError !== undefined ? { spawnError } : {}),
      });
    };
    child.on('exit', (code, signal) => void end(code, signal));
    // a program that could not be started has no 'exit' (Node does not promise one after 'error')
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => void end(code, signal));
  });
}

/**
 * Finds the program as exec would (a path with a slash relative to `cwd`, else along PATH), so
 * one that cannot be started is reported as such even when a cgroup wrapper starts it.
 */
function resolveProgram(program: string, cwd: string, searchPath: string | undefined): { path: string } | { error: string } {
  const candidates = program.includes('/') ? [path.resolve(cwd, program)] : (searchPath ?? '').split(':').map((dir) => path.resolve(cwd, dir || '.', program));
  let error = 'ENOENT';
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return { path: candidate };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') error = 'EACCES';
    }
  }
  return { error };
}

/** Keeps only the last `limit` bytes of output, without growing with the output's size. */
class OutputTail {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#chunks.length > 1 && this.#size - this.#chunks[0]!.length >= this.#limit) {
      this.#size -= this.#chunks.shift()!.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.#chunks);
    const cut = all.length > this.#limit;
    const kept = cut ? all.subarray(all.length - this.#limit) : all;
    // drop a partial UTF-8 sequence at the cut
    return (cut ? '…' : '') + kept.toString('utf8').replace(/^\uFFFD+/, '');
  }
}
