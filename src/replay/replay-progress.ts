/** How often, at most, a progress line is printed. */
const INTERVAL_MS = 1000;

/**
 * `rollgate replay` progress on stderr: lines read (and how much of the file), events, events per
 * second; at most once a second, and once at the end.
 */
export class ReplayProgress {
  readonly #totalBytes: number;
  readonly #write: (line: string) => void;
  readonly #now: () => number;
  readonly #started: number;
  #lastPrinted: number;
  #bytes = 0;
  #lines = 0;
  #events = 0;

  constructor(totalBytes: number, write: (line: string) => void = (line) => process.stderr.write(line), now: () => number = Date.now) {
    this.#totalBytes = totalBytes;
    this.#write = write;
    this.#now = now;
    this.#started = now();
    this.#lastPrinted = this.#started;
  }

  read(bytes: number): void {
    this.#bytes += bytes;
  }

  /** One line read; `event` when it held a readable event. */
  line(event: boolean): void {
    this.#lines++;
    if (event) this.#events++;
    const now = this.#now();
    if (now - this.#lastPrinted < INTERVAL_MS) return;
    this.#lastPrinted = now;
    const share = this.#totalBytes > 0 ? ` (${Math.floor((100 * this.#bytes) / this.#totalBytes)}% of the file)` : '';
    this.#write(`replay: ${this.#lines} lines read${share}, ${this.#events} events, ${this.#rate(now)} events/s\n`);
  }

  end(): void {
    const now = this.#now();
    this.#write(`replay: done: ${this.#lines} lines read, ${this.#events} events in ${((now - this.#started) / 1000).toFixed(1)} s, ${this.#rate(now)} events/s\n`);
  }

  #rate(now: number): number {
    return Math.round((this.#events * 1000) / Math.max(now - this.#started, 1));
  }
}
