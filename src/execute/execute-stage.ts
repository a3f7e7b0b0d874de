import { PollLoop } from '../poll-loop.js';
import { Runner } from './runner.js';
import type { RunnerDeps } from './runner-deps.js';

/**
 * The execute stage as the service runs it: one runner, and one loop per rollout it may drive at
 * the same time (`workers`; environments keep them apart). Rollouts interrupted by a crash or a
 * stop resume when their lease runs out (see Runner).
 */
export class ExecuteStage {
  readonly #runner: Runner;
  readonly #loops: readonly PollLoop[];

  /**
   * `onFreed`: a rollout this stage drove ended, parked at a gate or was given back, so its
   * environment may be free for the next one (which another process may be waiting to run).
   */
  constructor(deps: RunnerDeps, options: { readonly workers: number; readonly idleMs: number; readonly onFreed?: () => void }) {
    this.#runner = new Runner(deps);
    const tick = async () => {
      const ran = await this.#runner.runNext();
      if (ran) options.onFreed?.();
      return ran;
    };
    this.#loops = Array.from({ length: options.workers }, (_, i) => new PollLoop(`execute-${i + 1}`, tick, { idleMs: options.idleMs, logger: deps.logger }));
  }

  start(): void {
    for (const loop of this.#loops) loop.start();
  }

  /** A rollout was queued, a gate passed or a cancel asked for: look now. */
  wake(): void {
    for (const loop of this.#loops) loop.wake();
    this.#runner.wake();
  }

  /** The runner stops taking work and lets its claims go; then the loops end. */
  async stop(): Promise<void> {
    await this.#runner.stop();
    await Promise.all(this.#loops.map((loop) => loop.stop()));
  }
}
