import type { Logger } from './log.js';
import { WakeUp } from './wake-up.js';

/**
 * Runs `tick` until stopped: again at once while it reports work done, otherwise after `idleMs`
 * or as soon as `wake()` is called. The database is the queue; the loop is only the pump, so a
 * missed wake-up costs at most `idleMs`, never a lost item.
 */
export class PollLoop {
  readonly #name: string;
  readonly #tick: () => Promise<boolean>;
  readonly #idleMs: number;
  readonly #logger: Logger;
  #running = false;
  readonly #wakeUp = new WakeUp();
  #done: Promise<void> = Promise.resolve();

  constructor(name: string, tick: () => Promise<boolean>, options: { idleMs: number; logger: Logger }) {
    this.#name = name;
    this.#tick = tick;
    this.#idleMs = options.idleMs;
    this.#logger = options.logger;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#done = this.#run();
  }

  wake(): void {
    this.#wakeUp.poke();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.wake();
    await this.#done;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (this.#running) {
      let busy = false;
      try {
        busy = await this.#tick();
        failures = 0;
      } catch (err) {
        // e.g. the database restarting: keep the loop alive, back off, try again
        failures++;
        this.#logger.error({ loop: this.#name, err }, 'loop iteration failed');
      }
      if (busy || !this.#running) continue;
      // a wake() during the tick is not lost: the wait returns at once
      await this.#wakeUp.next(failures > 0 ? Math.min(this.#idleMs * 2 ** failures, 30_000) : this.#idleMs);
    }
  }
}
