import type { Logger } from '../log.js';
import type { AttemptKey, StepOutputStore } from '../rollouts/step-output-store.js';
import { StreamRedactor } from './stream-redactor.js';

/** Bytes of output kept per attempt (after redaction); past it the oldest chunks are dropped. */
export const STORED_OUTPUT_BYTES = 1024 * 1024;
/** Output is written at most this long after it came (the page's live view lags by about this)… */
const FLUSH_AFTER_MS = 200;
/** …or at once when this much has gathered. */
const FLUSH_BYTES = 32 * 1024;

/**
 * Stores one attempt's output while it runs: redacted as it comes (a secret split across reads
 * included), written in chunks a moment apart, one write at a time, bounded by dropping the oldest.
 * Output is a record, not the step's work: a write that fails is logged and the step runs on.
 */
export class OutputRecorder {
  readonly #store: StepOutputStore;
  readonly #key: AttemptKey;
  readonly #log: Logger;
  readonly #limit: number;
  readonly #redactor: StreamRedactor;
  #pending = '';
  #offset = 0;
  #kept: Array<{ readonly id: number; readonly bytes: number }> = [];
  #keptBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #warned = false;

  constructor(store: StepOutputStore, key: AttemptKey, secrets: readonly string[], log: Logger, limit = STORED_OUTPUT_BYTES) {
    this.#store = store;
    this.#key = key;
    this.#log = log;
    this.#limit = limit;
    this.#redactor = new StreamRedactor(secrets);
  }

  /** The next bytes the step printed (stdout and stderr as they interleave). */
  push(chunk: Buffer | string): void {
    this.#pending += this.#redactor.push(chunk);
    this.#trimPending();
    if (Buffer.byteLength(this.#pending) >= FLUSH_BYTES) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), FLUSH_AFTER_MS);
  }

  /** The attempt ended: writes what is left; resolves when every chunk is stored (or given up on). */
  async close(): Promise<void> {
    this.#pending += this.#redactor.end();
    this.#trimPending();
    while (this.#writing || this.#pending !== '') {
      this.#flush();
      await this.#writing;
    }
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#writing || this.#pending === '') return;
    const text = this.#pending;
    this.#pending = '';
    this.#writing = this.#write(text).finally(() => {
      this.#writing = undefined;
      // what came while writing goes next
      if (this.#pending !== '') this.#timer ??= setTimeout(() => this.#flush(), FLUSH_AFTER_MS);
    });
  }

  async #write(text: string): Promise<void> {
    const bytes = Buffer.byteLength(text);
    const offset = this.#offset;
    this.#offset += bytes;
    try {
      const id = await this.#store.append(this.#key, offset, text);
      this.#kept.push({ id, bytes });
      this.#keptBytes += bytes;
      let dropped = false;
      while (this.#kept.length > 1 && this.#keptBytes > this.#limit) {
        this.#keptBytes -= this.#kept.shift()!.bytes;
        dropped = true;
      }
      if (dropped) await this.#store.dropBefore(this.#key, this.#kept[0]!.id);
    } catch (err) {
      if (!this.#warned) this.#log.warn({ err, step: this.#key.stepId, attempt: this.#key.number }, 'could not store step output; the step runs on');
      this.#warned = true;
    }
  }

  /** Output gathering faster than it can be written keeps only its newest `limit` bytes. */
  #trimPending(): void {
    const bytes = Buffer.byteLength(this.#pending);
    if (bytes <= this.#limit) return;
    const kept = Buffer.from(this.#pending).subarray(bytes - this.#limit).toString('utf8').replace(/^\uFFFD+/, '');
    this.#offset += bytes - Buffer.byteLength(kept);
    this.#pending = kept;
  }
}
