import { spawn } from 'node:child_process';

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
  /** Aborting kills the process group, as a timeout does (a cancelled rollout, a shutdown). */
  readonly signal?: AbortSignal;
  /** Told the process group id once the program started (it leads its own group). */
  readonly onSpawn?: (pgid: number) => void;
}

/**
 * Runs a program from an argv array, never through a shell: change data passed as an argument
 * stays one argument whatever characters it holds. The process gets its own process group so a
 * timeout kills everything it started, not just the first process.
 */
export function runProcess(options: RunProcessOptions): Promise<ProcessResult> {
  const [program, ...args] = options.argv;
  const tailBytes = options.tailBytes ?? 16 * 1024;
  const started = performance.now();
  return new Promise((resolve) => {
    const tail = new OutputTail(tailBytes);
    let timedOut = false;
    let spawnError: string | undefined;
    const child = spawn(program!, args, {
      cwd: options.cwd,
      env: options.env,
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    child.stdout.on('data', (chunk: Buffer) => tail.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => tail.push(chunk));
    const stop = () => {
      killGroup(child.pid, 'SIGTERM');
      // a process that ignores SIGTERM gets SIGKILL after a grace period
      setTimeout(() => killGroup(child.pid, 'SIGKILL'), 5000).unref();
    };
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
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({
        exitCode: code,
        signal,
        timedOut,
        durationMs: Math.round(performance.now() - started),
        outputTail: tail.text(),
        ...(spawnError !== undefined ? { spawnError } : {}),
      });
    });
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
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
