import type { GerritClient } from '../gerrit/gerrit-client.js';
import type { SplitLine } from '../gerrit/line-splitter.js';
import type { Logger } from '../log.js';

export interface StallWatchdogOptions {
  /** Silence on a connected stream after which Gerrit REST is asked whether anything merged. */
  readonly stallMs: number;
  readonly gerrit: Pick<GerritClient, 'queryMergedSince'>;
  /** Whether the stream-events session is up right now; a disconnected stream is not "stalled". */
  readonly connected: () => boolean;
  /** Called when Gerrit shows merges the stream did not deliver: back-fill and reconnect. */
  readonly onStall: (reason: string) => void;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** How many merged revisions seen on the stream are remembered, to tell them from missed ones. */
const SEEN_LIMIT = 1000;

/**
 * Detects a stream that looks alive but delivers nothing (Gerrit keeps answering SSH keepalives
 * while its stream-events sender is stuck, see Buildbot's and gerrit-trigger's watchdogs).
 *
 * When no line has arrived for `stallMs` while the stream is connected, it asks Gerrit REST for
 * changes merged since the last line. A merge the stream did not deliver means the stream is
 * stalled, and `onStall` runs (the service back-fills and forces a reconnect). Quiet periods
 * without merges are only quiet: nothing happens.
 */
export class StallWatchdog {
  readonly #o: StallWatchdogOptions;
  readonly #now: () => number;
  /** Wall time of the last line, or of the last (re)connect, whichever is later. */
  #lastActivity: number;
  readonly #seenRevisions = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<boolean> | undefined;
  #stopped = false;

  constructor(options: StallWatchdogOptions) {
    if (!(options.stallMs > 0)) throw new Error(`stallMs must be positive, got ${options.stallMs}`);
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#lastActivity = this.#now();
  }

  /** Called for every stream line; cheap, never throws. */
  lineArrived(line?: SplitLine): void {
    this.#lastActivity = this.#now();
    if (line?.kind !== 'line' || !line.text.includes('change-merged')) return;
    try {
      const event = JSON.parse(line.text) as { type?: unknown; patchSet?: { revision?: unknown }; newRev?: unknown };
      const revision = event.patchSet?.revision ?? event.newRev;
      if (event.type === 'change-merged' && typeof revision === 'string') this.#remember(revision);
    } catch {
      // the intake judges malformed lines; for the watchdog any line is a sign of life
    }
  }

  /** The stream (re)connected: the silence is counted from now. */
  connected(): void {
    this.#lastActivity = this.#now();
  }

  start(): void {
    if (this.#stopped || this.#timer) return;
    const every = Math.max(10, Math.min(Math.floor(this.#o.stallMs / 4), 30_000));
    this.#timer = setInterval(() => void this.check(), every);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checking;
  }

  /** One look: returns true when it found the stream stalled (and called `onStall`). */
  check(): Promise<boolean> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #check(): Promise<boolean> {
    if (this.#stopped) return false;
    if (!this.#o.connected()) {
      // a disconnected stream is the listener's business; the clock restarts on connect
      this.#lastActivity = this.#now();
      return false;
    }
    const since = this.#lastActivity;
    const silentMs = this.#now() - since;
    if (silentMs < this.#o.stallMs) return false;
    let merged;
    try {
      // Gerrit's query has second resolution: look from the start of the second, then compare exactly
      merged = await this.#o.gerrit.queryMergedSince(new Date(Math.floor(since / 1000) * 1000 - 1000));
    } catch (err) {
      this.#o.logger.warn({ err, silentMs }, 'stall check: asking Gerrit for recent merges failed');
      return false;
    }
    if (this.#stopped || this.#lastActivity !== since || !this.#o.connected()) return false; // a line arrived meanwhile
    // Gerrit may store submit times truncated to the second
    const missed = merged.filter((c) => c.submitted.getTime() >= Math.floor(since / 1000) * 1000 && !this.#seenRevisions.has(c.currentRevision));
    if (missed.length === 0) {
      this.#o.logger.debug({ silentMs }, 'stream quiet, and Gerrit shows no newer merge');
      // look again after another full period of silence
      this.#lastActivity = this.#now();
      return false;
    }
    const reason = `stream stalled: no event for ${silentMs} ms while Gerrit shows ${missed.length} newer merge(s) (${missed
      .slice(0, 5)
      .map((c) => `${c.project}~${c.number}`)
      .join(', ')})`;
    this.#o.logger.warn({ silentMs, missed: missed.length }, 'gerrit stream stalled; back-filling and reconnecting');
    this.#lastActivity = this.#now();
    try {
      this.#o.onStall(reason);
    } catch (err) {
      this.#o.logger.error({ err }, 'stall handler threw');
    }
    return true;
  }

  #remember(revision: string): void {
    this.#seenRevisions.add(revision);
    if (this.#seenRevisions.size > SEEN_LIMIT) {
      const oldest = this.#seenRevisions.values().next().value;
      if (oldest !== undefined) this.#seenRevisions.delete(oldest);
    }
  }
}
