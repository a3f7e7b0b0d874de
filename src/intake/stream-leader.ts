import type pg from 'pg';
import type { DatabaseHandle } from '../db/database.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The PostgreSQL advisory lock key the stream leader holds ("rollgate" in ASCII). Advisory locks
 * are per database, so rollgate installs on different databases of one server do not meet.
 */
export const STREAM_LEADER_LOCK_KEY = '8245940763182785637';

export interface StreamLeaderOptions {
  /** Only `dedicatedConnection` is used; without it (PGlite, one process) this instance always leads. */
  readonly database: Pick<DatabaseHandle, 'dedicatedConnection'>;
  readonly logger: Logger;
  /**
   * Called when this instance becomes the leader: start the stream. Not called again before
   * `onLose` has resolved.
   */
  readonly onGain: () => void | Promise<void>;
  /** Called when leadership is lost or given up: stop the stream, and resolve only once it is stopped. */
  readonly onLose: (reason: string) => void | Promise<void>;
  /** How often a follower tries to take the lock and the leader checks its lock connection. Default 2000. */
  readonly pollMs?: number;
  /** The advisory lock key; tests pass their own. Default `STREAM_LEADER_LOCK_KEY`. */
  readonly lockKey?: string;
}

/**
 * Exactly one replica on a PostgreSQL database holds the Gerrit stream: the one holding a
 * session-level advisory lock on a connection of its own (not the pool's). PostgreSQL releases
 * the lock when that session ends, which is what "the leader died" means: a replica killed with
 * SIGKILL closes its socket and a follower gets the lock on its next try (every `pollMs`).
 *
 * Fencing: the leader checks its lock connection every `pollMs` (a query that must answer within
 * `pollMs`); when that connection errors, ends or stalls, the stream is stopped before anything
 * else happens and only then is the lock tried again. PostgreSQL notices a dead client no sooner
 * than the leader notices a dead server, so two replicas never both believe they lead. (A second
 * stream would be harmless anyway: events are deduplicated on store.)
 */
export class StreamLeader {
  readonly #options: StreamLeaderOptions;
  readonly #pollMs: number;
  readonly #log: Logger;
  #leader = false;
  #started = false;
  #stopping = false;
  #run: Promise<void> | undefined;
  #client: pg.Client | undefined;
  /** Set by the lock connection's error/end events; read by the loop. */
  #broken: string | undefined;
  #wake: () => void = () => undefined;
  /** How many times this instance has become the leader. */
  #terms = 0;

  constructor(options: StreamLeaderOptions) {
    this.#options = options;
    this.#pollMs = options.pollMs ?? 2000;
    this.#log = options.logger.child({ component: 'stream-leader' });
  }

  /** Whether this instance holds the stream now. */
  get isLeader(): boolean {
    return this.#leader;
  }

  /** How many times this instance has gained leadership (0 before the first). */
  get terms(): number {
    return this.#terms;
  }

  /** Starts competing for leadership; idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#run = this.#options.database.dedicatedConnection ? this.#compete(this.#options.database.dedicatedConnection) : this.#always();
  }

  /** Gives leadership up (the stream is stopped first) and releases the lock. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake();
    await this.#run;
  }

  /** One process on its own database (PGlite): it leads until stopped. */
  async #always(): Promise<void> {
    await this.#gain('single-process database');
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      if (this.#stopping) resolve();
    });
    await this.#lose('stopping');
  }

  async #compete(open: () => pg.Client): Promise<void> {
    const key = this.#options.lockKey ?? STREAM_LEADER_LOCK_KEY;
    while (!this.#stopping) {
      try {
        const client = this.#client ?? (await this.#connect(open));
        if (!this.#leader) {
          const { rows } = await this.#timed(client.query<{ ok: boolean }>('select pg_try_advisory_lock($1::bigint) as ok', [key]));
          if (rows[0]?.ok === true && !this.#stopping && this.#broken === undefined) await this.#gain('advisory lock taken');
        } else {
          // the session is alive, so the session-level lock is still ours
          await this.#timed(client.query('select 1'));
        }
        if (this.#broken !== undefined) throw new Error(this.#broken);
      } catch (err) {
        const reason = errorMessage(err);
        // fencing: the stream stops before anything else, then the lock is tried again
        if (this.#leader) {
          this.#log.error({ reason }, 'stream leader lost its lock connection; stopping the stream');
          await this.#lose(`lock connection failed: ${reason}`);
        } else {
          this.#log.warn({ reason }, 'stream leader election: cannot reach the database; will retry');
        }
        this.#drop();
      }
      await this.#sleep(this.#pollMs);
    }
    if (this.#leader) await this.#lose('stopping');
    const client = this.#client;
    this.#client = undefined;
    // ending the session releases the advisory lock
    if (client) await this.#timed(client.end()).catch(() => this.#drop(client));
  }

  async #connect(open: () => pg.Client): Promise<pg.Client> {
    const client = open();
    this.#broken = undefined;
    client.on('error', (err: Error) => this.#fail(client, `error: ${err.message}`));
    client.on('end', () => this.#fail(client, 'connection ended'));
    this.#client = client;
    await this.#timed(client.connect());
    return client;
  }

  #fail(client: pg.Client, reason: string): void {
    if (client !== this.#client) return;
    this.#broken ??= reason;
    this.#wake();
  }

  /** Forgets the lock connection; closing it is best effort (a dead socket may never answer). */
  #drop(client = this.#client): void {
    if (client === this.#client) this.#client = undefined;
    this.#broken = undefined;
    if (!client) return;
    client.end().catch(() => undefined);
    // a socket stalled on a partition would never finish end(): cut it
    (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
  }

  async #gain(how: string): Promise<void> {
    this.#leader = true;
    this.#terms += 1;
    this.#log.info({ how, term: this.#terms }, 'this replica is now the Gerrit stream leader');
    try {
      await this.#options.onGain();
    } catch (err) {
      this.#log.error({ err }, 'starting the stream as leader failed');
    }
  }

  async #lose(reason: string): Promise<void> {
    if (!this.#leader) return;
    this.#leader = false;
    try {
      await this.#options.onLose(reason);
    } catch (err) {
      this.#log.error({ err }, 'stopping the stream on losing leadership failed');
    }
    this.#log.info({ reason }, 'this replica is no longer the Gerrit stream leader');
  }

  /** Rejects when `promise` takes longer than the poll period (or 5 s, whichever is longer). */
  #timed<T>(promise: Promise<T>): Promise<T> {
    const limit = Math.max(this.#pollMs, 5000);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`database did not answer within ${limit} ms`)), limit);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopping || this.#broken !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
