import net from 'node:net';
import ssh2 from 'ssh2';
import type { Client as SshClient, ClientChannel, ParsedKey } from 'ssh2';
import { exponentialBackoff } from '../backoff.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { isFingerprintSha256, makeHostVerifier } from './host-key.js';
import { LineSplitter, type SplitLine } from './line-splitter.js';

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

export interface StreamListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** OpenSSH or PEM private key, unencrypted. Never logged. */
  readonly privateKey: Buffer | string;
  /** Pinned `SHA256:…` fingerprints; any other host key is refused. */
  readonly hostKeyFingerprints: readonly string[];
  /** Event types to subscribe to: `gerrit stream-events -s a -s b`. */
  readonly eventTypes: readonly string[];
  /**
   * Called synchronously for each framed line, and never awaited. May be called until `stop()`
   * resolves. Judging the JSON is the caller's job; a throw is logged and the stream goes on.
   */
  readonly onLine: (line: SplitLine) => void;
  readonly onStatus?: (status: StreamStatus) => void;
  readonly logger: Logger;
  /** SSH keepalive period; with `keepaliveCountMax` it detects a silently dead stream. Default 15 s. */
  readonly keepaliveIntervalMs?: number;
  /** Unanswered keepalives before the connection is dropped. Default 3. */
  readonly keepaliveCountMax?: number;
  /** Limit for TCP connect, handshake and authentication. Default 20 s. */
  readonly readyTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  /** Longest event line kept whole; longer ones arrive as `oversize`. Default 32 MiB. */
  readonly maxLineBytes?: number;
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
/** How long a graceful `end()` may take before the socket is destroyed. */
const CLOSE_GRACE_MS = 5_000;
/** Gerrit's stderr is short diagnostics; cap it so a noisy server cannot grow memory. */
const MAX_STDERR_LINE_BYTES = 64 * 1024;

/** One SSH connection and its stream-events channel; discarded when the socket closes. */
interface Session {
  readonly client: SshClient;
  readonly socket: net.Socket;
  /** Resolves when the socket is closed and the stream, if any, has delivered its last line. */
  readonly closed: Promise<void>;
  /** Resolves on the stream's own close, which ssh2 emits only after its buffered data. */
  streamClosed: Promise<void> | undefined;
  connectedAt: number | undefined;
  /** First reason the session ended; later errors are only logged. */
  reason: string | undefined;
  exit: string | undefined;
  lastStderr: string | undefined;
  /** Set by the host verifier, so the handshake error that follows is reported as what it is. */
  hostKeyReason: string | undefined;
  graceTimer: NodeJS.Timeout | undefined;
}

/**
 * Holds one long-lived `gerrit stream-events` session and hands each line to `onLine`.
 *
 * The listener only listens: it frames lines and reconnects, and decides nothing about events.
 * Gerrit drops events for slow readers (a 128-event queue per connection), so the reader never
 * waits on the consumer. Every ended session has its client closed, because leaked connections
 * count against Gerrit's `sshd.maxConnectionsPerUser`.
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
  #session: Session | undefined;
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
    const session = this.#session;
    return session !== undefined && session.connectedAt !== undefined && session.reason === undefined;
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
    this.#endSession(session, `reconnect: ${reason}`);
    session.socket.destroy();
  }

  async #stop(): Promise<void> {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const session = this.#session;
    if (session !== undefined) {
      this.#endSession(session, 'stopped');
      await session.closed;
    }
    this.#log.info('gerrit stream listener stopped');
    this.#emitStatus({ state: 'stopped' });
  }

  #connect(): void {
    const o = this.#options;
    this.#emitStatus({ state: 'connecting' });
    this.#log.debug('connecting to gerrit');

    // We own the socket so that a close can always be forced: ssh2's end() and destroy() do
    // nothing once the socket's read side has ended, which would leave a half-closed connection.
    const socket = net.connect({ host: o.host, port: o.port });
    // ssh2 reports socket errors as client errors; this only guards the gap before it listens.
    socket.on('error', () => undefined);
    const client = new ssh2.Client();
    let markClosed: () => void = () => undefined;
    const session: Session = {
      client,
      socket,
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
      streamClosed: undefined,
      connectedAt: undefined,
      reason: undefined,
      exit: undefined,
      lastStderr: undefined,
      hostKeyReason: undefined,
      graceTimer: undefined,
    };
    this.#session = session;

    socket.once('close', () => {
      clearTimeout(session.graceTimer);
      // an abrupt close often comes without an ssh2 error; name it before the stream reports "ended"
      session.reason ??= 'connection closed';
      // ssh2 closes the stream after the socket; wait for it so that no line is delivered
      // after stop() resolves or after the next session has started
      void (session.streamClosed ?? Promise.resolve()).then(() => {
        markClosed();
        this.#onSessionClosed(session);
      });
    });
    client.on('error', (err: Error) => this.#endSession(session, session.hostKeyReason ?? err.message));
    client.on('ready', () => this.#openStream(session));

    // ssh2 follows a refusal with a generic "Host denied" error, which then ends the session
    const verifier = makeHostVerifier(o.hostKeyFingerprints, (seen) => {
      session.hostKeyReason = `host key ${seen} is not pinned (pinned: ${o.hostKeyFingerprints.join(', ')})`;
      // loud on purpose: either the key was rotated and config must change, or someone is in the middle
      this.#log.error({ seen, pinned: o.hostKeyFingerprints }, 'gerrit host key rejected');
      this.#emitStatus({ state: 'host-key-rejected', seen });
    });
    try {
      client.connect({
        sock: socket,
        host: o.host,
        port: o.port,
        username: o.username,
        privateKey: o.privateKey,
        hostVerifier: verifier,
        keepaliveInterval: o.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: o.keepaliveCountMax ?? 3,
        readyTimeout: o.readyTimeoutMs ?? 20_000,
      });
    } catch (err) {
      this.#endSession(session, `ssh setup failed: ${errorMessage(err)}`);
    }
  }

  #openStream(session: Session): void {
    if (session.reason !== undefined) return;
    try {
      session.client.exec(this.#command, (err, stream) => {
        if (err) {
          this.#endSession(session, `exec failed: ${err.message}`);
          return;
        }
        this.#attachStream(session, stream);
      });
    } catch (err) {
      this.#endSession(session, `exec failed: ${errorMessage(err)}`);
    }
  }

  #attachStream(session: Session, stream: ClientChannel): void {
    const stdout = new LineSplitter(
      this.#options.maxLineBytes === undefined ? {} : { maxLineBytes: this.#options.maxLineBytes },
    );
    const stderr = new LineSplitter({ maxLineBytes: MAX_STDERR_LINE_BYTES });
    stream.on('data', (chunk: Buffer) => this.#deliver(stdout.push(chunk)));
    stream.stderr.on('data', (chunk: Buffer) => this.#logStderr(session, stderr.push(chunk)));
    stream.on('exit', (code: number | null, signal?: string) => {
      session.exit = code === null ? `signal ${String(signal)}` : `exit status ${code}`;
    });
    stream.on('error', (err: Error) => this.#endSession(session, `stream error: ${err.message}`));
    session.streamClosed = new Promise((resolve) => stream.once('close', () => resolve()));
    stream.on('close', () => {
      const tail = stdout.end();
      if (tail.length > 0) {
        // Gerrit ends every event with a newline, so this is probably a truncated event; the
        // caller still sees it and can judge it like any other line
        this.#log.warn('gerrit stream ended in the middle of a line');
        this.#deliver(tail);
      }
      this.#logStderr(session, stderr.end());
      const detail = [session.exit, session.lastStderr].filter((part) => part !== undefined).join(': ');
      this.#endSession(session, `gerrit stream-events ended${detail === '' ? '' : ` (${detail})`}`);
    });

    if (session.reason !== undefined) return;
    session.connectedAt = Date.now();
    this.#log.info({ command: this.#command }, 'gerrit stream connected');
    this.#emitStatus({ state: 'connected', at: new Date(session.connectedAt) });
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

  #logStderr(session: Session, lines: readonly SplitLine[]): void {
    for (const line of lines) {
      const text = line.kind === 'line' ? line.text : `${line.head}… (${line.bytes} bytes)`;
      session.lastStderr = text;
      this.#log.warn({ stderr: text }, 'gerrit stream-events wrote to stderr');
    }
  }

  /** Ends a session once, for whatever reason came first; the socket's close schedules the retry. */
  #endSession(session: Session, reason: string): void {
    if (session.reason !== undefined) {
      this.#log.debug({ reason }, 'gerrit session already ending');
      return;
    }
    session.reason = reason;
    session.graceTimer = setTimeout(() => session.socket.destroy(), CLOSE_GRACE_MS);
    session.graceTimer.unref();
    try {
      session.client.end();
    } catch {
      // end() throws if ssh2 never got as far as creating its protocol state
      session.socket.destroy();
    }
  }

  #onSessionClosed(session: Session): void {
    if (this.#session === session) this.#session = undefined;
    const reason = session.reason ?? 'connection closed';
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
