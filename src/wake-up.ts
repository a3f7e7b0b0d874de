/**
 * A loop's wait for "something happened": a poke that came while the loop was busy is not lost,
 * the next wait returns at once; otherwise the wait ends at the next poke or after `pollMs`.
 */
export class WakeUp {
  #poked = false;
  #wake: (() => void) | undefined;

  poke(): void {
    this.#poked = true;
    this.#wake?.();
  }

  /** Waits for a poke, or `pollMs` at most. */
  async next(pollMs: number): Promise<void> {
    if (this.#poked) {
      this.#poked = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollMs);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
    this.#poked = false;
  }
}
