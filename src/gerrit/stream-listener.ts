import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { exponentialBackoff } from '../backoff.js';
import type { Logger } from '../log.js';
import { isFingerprintSha256 } from './host-key.js';
import type { SplitLine } from './line-splitter.js';
import { StreamSession, type StreamSessionOptions } from './stream-session.js';

/** What the listener is doing, reported through `onStatus` for health checks and metrics. */
export type StreamStatus =
  | { readonly state: 'connecting' }
  | { readonly state: 'connected'; readonly at: Date }
  | { readonly state: 'disconnected'; readonly reason: string; readonly retryInMs: number }
  | { readonly state: 'host-key-rejected'; readonly seen: string }
  | { readonly state: 'stopped' };

/** Exponential backoff with full jitter: the n-th retry waits `random() * min(maxMs, initialMs * factor ** n)`. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  /** A session that stayed connected this long resets the backoff to `initialMs`. */
  readonly resetAfterMs: number;
}

/** The connection (see StreamSessionOptions), what to subscribe to, and where lines and statuses go. */
export interface StreamListenerOptions extends StreamSessionOptions {
  /** Event types to subscribe to: `gerrit stream-events -s a -s b`. */
  readonly eventTypes: readonly string[];
  /**
   * Called synchronously for each framed line, and never awaited. May be called until `stop()`
   * resolves. Judging the JSON is the caller's job; a throw is logged and the stream goes on.
   */
  readonly onLine: (line: SplitLine) => void;
  readonly onStatus?: (status: StreamStatus) => void;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
  /** Source of jitter in [0, 1); injectable for tests. */
  readonly random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({
  initialMs: 500,
  maxMs: 60_000,
  factor: 2,
  resetAfterMs: 120_000,
});

/** Delay before retry number `attempt` (0-based), with full jitter. */
export function backoffDelay(attempt: number, backoff: BackoffOptions, random: () => number): number {
  return exponentialBackoff(attempt, { baseMs: backoff.initialMs, maxMs: backoff.maxMs, factor: backoff.factor, jitter: 'full' }, random);
}

/** Event types become argv of a command run by Gerrit's SSH daemon, so only this alphabet passes. */
const EVENT_TYPE = /^[a-z-]+$/;

/**
 * Holds one long-lived `gerrit stream-events` session and hands each line to `onLine`.
 *
 * The listener only listens: it frames lines and reconnects, and decides nothing about events.
 * Gerrit drops events for slow readers (a 128-event queue per connection), so the reader never
 * waits on the consumer. Every ended session has its client closed, because leaked connections
 * count against Gerrit's `sshd.maxConnectionsPerUser`. One connection is a StreamSession; this
 * class owns the reconnect loop around them.
 *
 * ```ts
 * const listener = new StreamListener({ ...config, onLine: (line) => intake.addLine(line), logger });
 * listener.start();
 * await listener.stop();
 * ```
 */
export class StreamListener {
  readonly #options: StreamListenerOptions;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #command: string;
  readonly #log: Logger;
  #session: StreamSession | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #started = false;
  #stopping: Promise<void> | undefined;

  /** @throws Error when the options are invalid (bad event type, fingerprint, key, port…). */
  constructor(options: StreamListenerOptions) {
    validateOptions(options);
    this.#options = options;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#random = options.random ?? Math.random;
    this.#command = ['gerrit stream-events', ...options.eventTypes.map((type) => `-s ${type}`)].join(' ');
    this.#log = options.logger.child({
      component: 'gerrit-stream',
      gerrit: `${options.username}@${options.host}:${options.port}`,
    });
  }

  /** True while the stream-events command is running on an open connection. */
  get connected(): boolean {
    return this.#session?.connected ?? false;
  }

  /** Starts connecting; reconnects on its own until `stop()`. Calling it again is a no-op. */
  start(): void {
    if (this.#stopping !== undefined) throw new Error('StreamListener was stopped; create a new one');
    if (this.#started) return;
    this.#started = true;
    this.#connect();
  }

  /** Ends the session and any pending retry; resolves once the socket is closed. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /**
   * Drops the current session so the normal backoff/reconnect path opens a new one, for a stream
   * that looks alive but delivers nothing. The socket is destroyed at once: a stalled peer would
   * not answer a graceful close. No-op when there is no session or the listener is stopping.
   */
  reconnect(reason: string): void {
    const session = this.#session;
    if (session === undefined || this.#stopping !== undefined) return;
    this.#log.warn({ reason }, 'forcing a reconnect of the gerrit stream');
    session.abort(`reconnect: ${reason}`);
  }

  async #stop(): Promise<void> {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const session = this.#session;
    if (session !== undefined) {
      session.end('stopped');
      await session.closed;
    }
    this.#log.info('gerrit stream listener stopped');
    this.#emitStatus({ state: 'stopped' });
  }

  #connect(): void {
    this.#emitStatus({ state: 'connecting' });
    this.#log.debug('connecting to gerrit');
    const session: StreamSession = new StreamSession(this.#options, this.#command, this.#log, {
      onLines: (lines) => this.#deliver(lines),
      onHostKeyRejected: (seen) => this.#emitStatus({ state: 'host-key-rejected', seen }),
      onConnected: (at) => this.#emitStatus({ state: 'connected', at }),
      onClosed: (reason) => this.#onSessionClosed(session, reason),
    });
    this.#session = session;
  }

  #deliver(lines: readonly SplitLine[]): void {
    for (const line of lines) {
      try {
        this.#options.onLine(line);
      } catch (err) {
        const head = line.kind === 'line' ? line.text.slice(0, 200) : line.head;
        this.#log.error({ err, head }, 'onLine threw; the line is skipped and the stream goes on');
      }
    }
  }

  #onSessionClosed(session: StreamSession, reason: string): void {
    if (this.#session === session) this.#session = undefined;
    if (this.#stopping !== undefined) {
      this.#log.debug({ reason }, 'gerrit session closed');
      return;
    }
    const healthy = session.connectedAt !== undefined && Date.now() - session.connectedAt >= this.#backoff.resetAfterMs;
    if (healthy) this.#attempt = 0;
    const retryInMs = backoffDelay(this.#attempt, this.#backoff, this.#random);
    this.#attempt += 1;
    this.#log.warn({ reason, retryInMs, attempt: this.#attempt }, 'gerrit stream disconnected');
    this.#emitStatus({ state: 'disconnected', reason, retryInMs });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#connect();
    }, retryInMs);
  }

  #emitStatus(status: StreamStatus): void {
    try {
      this.#options.onStatus?.(status);
    } catch (err) {
      this.#log.error({ err, status: status.state }, 'onStatus threw');
    }
  }
}

function validateOptions(o: StreamListenerOptions): void {
  if (o.host === '') throw new Error('gerrit ssh host is empty');
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65_535) {
    throw new Error(`gerrit ssh port must be an integer in 1..65535, got ${String(o.port)}`);
  }
  if (o.username === '') throw new Error('gerrit ssh username is empty');
  if (o.hostKeyFingerprints.length === 0) {
    throw new Error('no gerrit host key fingerprint pinned: refusing to trust whatever key answers');
  }
  for (const fingerprint of o.hostKeyFingerprints) {
    if (!isFingerprintSha256(fingerprint)) {
      throw new Error(`invalid gerrit host key fingerprint ${JSON.stringify(fingerprint)}: expected SHA256:<43 base64 characters>`);
    }
  }
  // an empty list would mean "every event type", including the ref-updated noise
  if (o.eventTypes.length === 0) throw new Error('no gerrit event types to subscribe to');
  for (const type of o.eventTypes) {
    if (!EVENT_TYPE.test(type)) throw new Error(`invalid gerrit event type ${JSON.stringify(type)}: expected [a-z-]+`);
  }
  validatePrivateKey(o.privateKey);
  const backoff = o.backoff;
  if (backoff !== undefined) {
    const valid =
      backoff.initialMs > 0 && backoff.maxMs >= backoff.initialMs && backoff.factor >= 1 && backoff.resetAfterMs >= 0;
    if (!valid) throw new Error(`invalid gerrit reconnect backoff ${JSON.stringify(backoff)}`);
  }
}

/** Fails early on a key ssh2 cannot use; the messages never quote the key. */
function validatePrivateKey(data: Buffer | string): void {
  // @types/ssh2 says ParsedKey | Error, but an OpenSSH private key file parses to an array of keys
  const parsed: ParsedKey | ParsedKey[] | Error = ssh2.utils.parseKey(data);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error) throw new Error(`gerrit ssh privateKey is not a usable private key: ${key.message}`);
  if (key === undefined || !key.isPrivateKey()) throw new Error('gerrit ssh privateKey holds no private key');
}
