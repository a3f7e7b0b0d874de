import { createHash } from 'node:crypto';
import net from 'node:net';
import ssh2 from 'ssh2';
import type { AuthContext, Connection, ParsedKey, ServerChannel } from 'ssh2';

/**
 * An in-process Gerrit SSH daemon that only knows `gerrit stream-events`, for tests of the
 * stream listener over real loopback sockets (no mocks of ssh2).
 */
export interface SshGerritDouble {
  readonly port: number;
  readonly host: '127.0.0.1';
  /** `SHA256:…` fingerprint of the generated host key, to pin in the client. */
  readonly hostKeyFingerprint: string;
  /** OpenSSH private key the double accepts for `username` (public-key auth only). */
  readonly clientPrivateKey: string;
  readonly username: string;
  /** Every exec command received, in order, including unknown ones. */
  readonly commands: readonly string[];
  /** Stream sessions open right now. */
  readonly sessions: number;
  /** TCP connections open right now (a leaked client shows up here). */
  readonly connections: number;
  /** Resolves once `count` stream sessions have ever been opened. */
  waitForSession(count?: number, timeoutMs?: number): Promise<void>;
  /** Writes each event as one JSON line (a string is sent as is) plus `\n` to every open stream. */
  push(event: object | string): void;
  /** Writes raw bytes to every open stream, to split lines or characters across chunks. */
  pushRaw(data: Buffer | string): void;
  /** Ends every stream like Gerrit's command exiting, but leaves the connections open. */
  endStreams(exitStatus?: number, stderr?: string): void;
  /** Stops reading from every connection, so TCP stays up but nothing (keepalives included) is answered. */
  stallAll(): void;
  /** Cuts every connection abruptly (socket destroy, no SSH disconnect). */
  dropAll(): void;
  close(): Promise<void>;
}

export interface SshGerritDoubleOptions {
  readonly username?: string;
}

/** Arguments Gerrit's stream-events accepts: `-s <type>` pairs. */
const STREAM_EVENTS = /^gerrit stream-events((?: -s [a-z-]+)*)$/;

export async function startSshGerritDouble(opts: SshGerritDoubleOptions = {}): Promise<SshGerritDouble> {
  const double = new SshGerritDoubleImpl(opts.username ?? 'rollgate');
  await double.listen();
  return double;
}

interface Waiter {
  readonly count: number;
  readonly resolve: () => void;
}

class SshGerritDoubleImpl implements SshGerritDouble {
  readonly host = '127.0.0.1' as const;
  readonly username: string;
  readonly hostKeyFingerprint: string;
  readonly clientPrivateKey: string;
  readonly commands: string[] = [];
  readonly #acceptedKey: ParsedKey;
  readonly #sockets = new Set<net.Socket>();
  readonly #streams = new Set<ServerChannel>();
  readonly #waiters = new Set<Waiter>();
  readonly #tcp: net.Server;
  #opened = 0;
  #port = 0;

  constructor(username: string) {
    this.username = username;
    const hostKey = generateEd25519KeyPair();
    const clientKey = generateEd25519KeyPair();
    this.clientPrivateKey = clientKey.private;
    this.#acceptedKey = parseOne(clientKey.public);
    // computed here rather than with src/gerrit/host-key.ts, so the test checks that code
    this.hostKeyFingerprint = `SHA256:${createHash('sha256')
      .update(parseOne(hostKey.public).getPublicSSH())
      .digest('base64')
      .replace(/=+$/, '')}`;

    const ssh = new ssh2.Server({ hostKeys: [hostKey.private] }, (conn) => this.#onConnection(conn));
    // we own the TCP server so dropAll() and stallAll() can reach the raw sockets
    this.#tcp = net.createServer((socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
      ssh.injectSocket(socket);
    });
  }

  /** Kept after close(), so a test can aim a client at a port where nothing listens. */
  get port(): number {
    return this.#port;
  }

  get sessions(): number {
    return this.#streams.size;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#tcp.once('error', reject);
      this.#tcp.listen(0, this.host, () => {
        const address = this.#tcp.address();
        if (address === null || typeof address === 'string') throw new Error('ssh gerrit double has no TCP port');
        this.#port = address.port;
        resolve();
      });
    });
  }

  waitForSession(count = 1, timeoutMs = 5_000): Promise<void> {
    if (this.#opened >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`waited ${timeoutMs} ms for ${count} stream sessions, saw ${this.#opened}`));
      }, timeoutMs);
      const waiter: Waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.add(waiter);
    });
  }

  push(event: object | string): void {
    this.pushRaw(`${typeof event === 'string' ? event : JSON.stringify(event)}\n`);
  }

  pushRaw(data: Buffer | string): void {
    for (const stream of this.#streams) stream.write(data);
  }

  endStreams(exitStatus = 0, stderr?: string): void {
    for (const stream of this.#streams) {
      if (stderr !== undefined) stream.stderr.write(stderr);
      stream.exit(exitStatus);
      stream.end();
    }
  }

  stallAll(): void {
    for (const socket of this.#sockets) socket.pause();
  }

  dropAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
  }

  #onConnection(conn: Connection): void {
    const streams = new Set<ServerChannel>();
    conn.on('error', () => undefined);
    conn.on('authentication', (ctx) => this.#authenticate(ctx));
    conn.on('ready', () => {
      conn.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('exec', (acceptExec, _reject, info) => {
          this.commands.push(info.command);
          const stream = acceptExec();
          const match = STREAM_EVENTS.exec(info.command);
          if (match === null) {
            stream.stderr.write(`fatal: ${describeUnknown(info.command)}\n`);
            stream.exit(1);
            stream.end();
            return;
          }
          streams.add(stream);
          this.#streams.add(stream);
          stream.on('error', () => undefined);
          stream.once('close', () => {
            streams.delete(stream);
            this.#streams.delete(stream);
          });
          this.#opened += 1;
          for (const waiter of this.#waiters) {
            if (this.#opened >= waiter.count) {
              this.#waiters.delete(waiter);
              waiter.resolve();
            }
          }
        });
      });
    });
    // a cut connection may not close its channels, so forget them with the connection
    conn.on('close', () => {
      for (const stream of streams) this.#streams.delete(stream);
      streams.clear();
    });
  }

  #authenticate(ctx: AuthContext): void {
    const key = this.#acceptedKey;
    if (ctx.method !== 'publickey' || ctx.username !== this.username) {
      ctx.reject(['publickey']);
      return;
    }
    if (ctx.key.algo !== key.type || !ctx.key.data.equals(key.getPublicSSH())) {
      ctx.reject(['publickey']);
      return;
    }
    // without a signature the client is only asking whether the key would be accepted
    if (ctx.signature === undefined || ctx.blob === undefined) {
      ctx.accept();
      return;
    }
    if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) ctx.accept();
    else ctx.reject(['publickey']);
  }
}

/**
 * An ed25519 key pair in OpenSSH format.
 *
 * ssh2 1.17's `utils.generateKeyPairSync('ed25519')` strips every leading zero byte of the
 * public key (lib/keygen.js), so about 1 key in 256 comes out malformed and ssh2 itself cannot
 * parse it (and a real Gerrit answers "Invalid SSH Key"). Such keys are detected and generated again.
 */
export function generateEd25519KeyPair(comment?: string): { readonly private: string; readonly public: string } {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', comment === undefined ? undefined : { comment });
    if (!(ssh2.utils.parseKey(pair.public) instanceof Error)) return pair;
  }
  throw new Error('ssh2 kept generating malformed ed25519 keys');
}

/** Roughly what Gerrit's SSH daemon prints for a command or option it does not know. */
function describeUnknown(command: string): string {
  const [first, second, ...rest] = command.split(' ');
  if (first === 'gerrit' && second === 'stream-events') return `"${rest.join(' ')}" is not a valid option`;
  return `${[first, second].filter((part) => part !== undefined).join(' ')}: not found`;
}

function parseOne(data: string): ParsedKey {
  // @types/ssh2 says ParsedKey | Error, but OpenSSH key files can parse to an array
  const parsed: ParsedKey | ParsedKey[] | Error = ssh2.utils.parseKey(data);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || key instanceof Error) throw new Error(`cannot parse generated key: ${String(key)}`);
  return key;
}
