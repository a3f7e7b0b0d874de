import net from 'node:net';
import ssh2 from 'ssh2';
import type { Client as SshClient, ClientChannel } from 'ssh2';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { makeHostVerifier } from './host-key.js';
import { LineSplitter, type SplitLine } from './line-splitter.js';

/** Where and as whom a session connects, and how it watches the connection. */
export interface StreamSessionOptions {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** OpenSSH or PEM private key, unencrypted. Never logged. */
  readonly privateKey: Buffer | string;
  /** Pinned `SHA256:…` fingerprints; any other host key is refused. */
  readonly hostKeyFingerprints: readonly string[];
  /** SSH keepalive period; with `keepaliveCountMax` it detects a silently dead stream. Default 15 s. */
  readonly keepaliveIntervalMs?: number;
  /** Unanswered keepalives before the connection is dropped. Default 3. */
  readonly keepaliveCountMax?: number;
  /** Limit for TCP connect, handshake and authentication. Default 20 s. */
  readonly readyTimeoutMs?: number;
  /** Longest event line kept whole; longer ones arrive as `oversize`. Default 32 MiB. */
  readonly maxLineBytes?: number;
}

/** What a session tells whoever opened it. */
export interface StreamSessionEvents {
  /** Framed lines of the command's output, in order; never awaited. */
  readonly onLines: (lines: readonly SplitLine[]) => void;
  readonly onHostKeyRejected: (seen: string) => void;
  /** The command runs: from here on its lines arrive. */
  readonly onConnected: (at: Date) => void;
  /** Once, after the socket closed and the stream delivered its last line; `reason` is why it ended. */
  readonly onClosed: (reason: string) => void;
}

/** How long a graceful `end()` may take before the socket is destroyed. */
const CLOSE_GRACE_MS = 5_000;
/** Gerrit's stderr is short diagnostics; cap it so a noisy server cannot grow memory. */
const MAX_STDERR_LINE_BYTES = 64 * 1024;

/**
 * One SSH connection running one command, from connect to close: it checks the host key against
 * the pins, runs the command, frames its output and stderr, and ends once, keeping the first
 * reason. It never reconnects; it is discarded when its socket closes.
 */
export class StreamSession {
  /** Resolves when the socket is closed and the stream, if any, has delivered its last line. */
  readonly closed: Promise<void>;
  readonly #options: StreamSessionOptions;
  readonly #command: string;
  readonly #log: Logger;
  readonly #events: StreamSessionEvents;
  readonly #client: SshClient;
  readonly #socket: net.Socket;
  /** Resolves on the stream's own close, which ssh2 emits only after its buffered data. */
  #streamClosed: Promise<void> | undefined;
  #connectedAt: number | undefined;
  /** First reason the session ended; later errors are only logged. */
  #reason: string | undefined;
  #exit: string | undefined;
  #lastStderr: string | undefined;
  /** Set by the host verifier, so the handshake error that follows is reported as what it is. */
  #hostKeyReason: string | undefined;
  #graceTimer: NodeJS.Timeout | undefined;

  /** Starts connecting at once; `events` report how it goes. */
  constructor(options: StreamSessionOptions, command: string, log: Logger, events: StreamSessionEvents) {
    this.#options = options;
    this.#command = command;
    this.#log = log;
    this.#events = events;
    // We own the socket so that a close can always be forced: ssh2's end() and destroy() do
    // nothing once the socket's read side has ended, which would leave a half-closed connection.
    this.#socket = net.connect({ host: options.host, port: options.port });
    // ssh2 reports socket errors as client errors; this only guards the gap before it listens.
    this.#socket.on('error', () => undefined);
    this.#client = new ssh2.Client();
    let markClosed: () => void = () => undefined;
    this.closed = new Promise<void>((resolve) => (markClosed = resolve));

    this.#socket.once('close', () => {
      clearTimeout(this.#graceTimer);
      // an abrupt close often comes without an ssh2 error; name it before the stream reports "ended"
      this.#reason ??= 'connection closed';
      // ssh2 closes the stream after the socket; wait for it so that no line is delivered after
      // `closed` resolves (the listener's stop() waits for it) or after the next session has started
      void (this.#streamClosed ?? Promise.resolve()).then(() => {
        markClosed();
        this.#events.onClosed(this.#reason ?? 'connection closed');
      });
    });
    this.#connect();
  }

  /** True while the command is running on an open connection. */
  get connected(): boolean {
    return this.#connectedAt !== undefined && this.#reason === undefined;
  }

  /** When the command started running; undefined if it never did. */
  get connectedAt(): number | undefined {
    return this.#connectedAt;
  }

  /** Ends the session once, for whatever reason came first; `closed` resolves when it is over. */
  end(reason: string): void {
    if (this.#reason !== undefined) {
      this.#log.debug({ reason }, 'gerrit session already ending');
      return;
    }
    this.#reason = reason;
    this.#graceTimer = setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS);
    this.#graceTimer.unref();
    try {
      this.#client.end();
    } catch {
      // end() throws if ssh2 never got as far as creating its protocol state
      this.#socket.destroy();
    }
  }

  /** Ends the session and destroys the socket at once, for a peer that may not answer a graceful close. */
  abort(reason: string): void {
    this.end(reason);
    this.#socket.destroy();
  }

  #connect(): void {
    const o = this.#options;
    this.#client.on('error', (err: Error) => this.end(this.#hostKeyReason ?? err.message));
    this.#client.on('ready', () => this.#openStream());

    // ssh2 follows a refusal with a generic "Host denied" error, which then ends the session
    const verifier = makeHostVerifier(o.hostKeyFingerprints, (seen) => {
      this.#hostKeyReason = `host key ${seen} is not pinned (pinned: ${o.hostKeyFingerprints.join(', ')})`;
      // loud on purpose: either the key was rotated and config must change, or someone is in the middle
      this.#log.error({ seen, pinned: o.hostKeyFingerprints }, 'gerrit host key rejected');
      this.#events.onHostKeyRejected(seen);
    });
    try {
      this.#client.connect({
        sock: this.#socket,
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
      this.end(`ssh setup failed: ${errorMessage(err)}`);
    }
  }

  #openStream(): void {
    if (this.#reason !== undefined) return;
    try {
      this.#client.exec(this.#command, (err, stream) => {
        if (err) {
          this.end(`exec failed: ${err.message}`);
          return;
        }
        this.#attachStream(stream);
      });
    } catch (err) {
      this.end(`exec failed: ${errorMessage(err)}`);
    }
  }

  #attachStream(stream: ClientChannel): void {
    const stdout = new LineSplitter(this.#options.maxLineBytes === undefined ? {} : { maxLineBytes: this.#options.maxLineBytes });
    const stderr = new LineSplitter({ maxLineBytes: MAX_STDERR_LINE_BYTES });
    stream.on('data', (chunk: Buffer) => this.#events.onLines(stdout.push(chunk)));
    stream.stderr.on('data', (chunk: Buffer) => this.#logStderr(stderr.push(chunk)));
    stream.on('exit', (code: number | null, signal?: string) => {
      this.#exit = code === null ? `signal ${String(signal)}` : `exit status ${code}`;
    });
    stream.on('error', (err: Error) => this.end(`stream error: ${err.message}`));
    this.#streamClosed = new Promise((resolve) => stream.once('close', () => resolve()));
    stream.on('close', () => {
      const tail = stdout.end();
      if (tail.length > 0) {
        // Gerrit ends every event with a newline, so this is probably a truncated event; the
        // caller still sees it and can judge it like any other line
        this.#log.warn('gerrit stream ended in the middle of a line');
        this.#events.onLines(tail);
      }
      this.#logStderr(stderr.end());
      const detail = [this.#exit, this.#lastStderr].filter((part) => part !== undefined).join(': ');
      this.end(`gerrit stream-events ended${detail === '' ? '' : ` (${detail})`}`);
    });

    if (this.#reason !== undefined) return;
    this.#connectedAt = Date.now();
    this.#log.info({ command: this.#command }, 'gerrit stream connected');
    this.#events.onConnected(new Date(this.#connectedAt));
  }

  #logStderr(lines: readonly SplitLine[]): void {
    for (const line of lines) {
      const text = line.kind === 'line' ? line.text : `${line.head}… (${line.bytes} bytes)`;
      this.#lastStderr = text;
      this.#log.warn({ stderr: text }, 'gerrit stream-events wrote to stderr');
    }
  }
}
