import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { DatabaseHandle } from '../db/database.js';
import { LeaderLease, sqlOverClient } from '../db/leader-lease.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

export interface StreamLeaderOptions {
  /** Only `dedicatedConnection` is used; without it (PGlite, one process) this instance always leads. */
  readonly database: Pick<DatabaseHandle, 'dedicatedConnection'>;
  readonly logger: Logger;
  /**
   * Called when this instance becomes the leader, with the lease's generation: start the stream.
   * Not called again before `onLose` has resolved.
   */
  readonly onGain: (generation: number) => void | Promise<void>;
  /** Called when leadership is lost or given up: stop the stream, and resolve only once it is stopped. */
  readonly onLose: (reason: string) => void | Promise<void>;
  /** How often a follower tries to take the lease. Default 2000. */
  readonly pollMs?: number;
  /** How long the lease lasts unrenewed. Default 10000. */
  readonly leaseMs?: number;
  /** How often the leader renews. Default a third of `leaseMs`. */
  readonly renewMs?: number;
  /** This instance's name in the lease row; default host, pid and a random part, unique per process. */
  readonly holder?: string;
  /** The lease row's name; tests pass their own. */
  readonly leaseName?: string;
  /** A monotonic clock in ms (default `performance.now`); it keeps counting while the process is stopped. */
  readonly monotonicNow?: () => number;
}

/** The leadership this instance holds: the lease's generation, and until when it may act on it by its own clock. */
interface Term {
  readonly generation: number;
  deadline: number;
}

/**
 * Exactly one replica on a PostgreSQL database holds the Gerrit stream: the one holding the
 * `leader_leases` row (see LeaderLease), renewed every `renewMs` over a connection of its own.
 * A follower tries to take it every `pollMs` and succeeds once it has lapsed by the database's
 * clock, so a leader that is hung (SIGSTOP) or cut off is replaced within `leaseMs + pollMs`,
 * whatever its TCP session looks like to the server; one whose session has ended (killed) within
 * `pollMs`.
 *
 * Fencing: each renewal names the generation it holds, so one after a takeover is refused, and
 * the leader's own deadline is the send time of its last renewal that succeeded plus `leaseMs`,
 * by its monotonic clock: never later than the database's expiry. When that deadline passes (it
 * could not renew in time, or it was stopped and has just woken) or a renewal is refused, the
 * leadership ends at once (`mayAct()` is false from that moment, so no line the stream still
 * delivers is stored) and the stream is stopped before the lease is tried again. A leader whose
 * lease connection fails keeps its stream and renews over a new connection (which the lease then
 * records as its session) until its deadline; a follower that took over in between, because the
 * recorded session was gone, makes that renewal refused, and the stream stops then.
 */
export class StreamLeader {
  readonly #options: StreamLeaderOptions;
  readonly #pollMs: number;
  readonly #leaseMs: number;
  readonly #renewMs: number;
  readonly #holder: string;
  readonly #now: () => number;
  readonly #log: Logger;
  #term: Term | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  /** The stream's stop after the leadership ended; the lease is not tried again before it is done. */
  #losing: Promise<void> = Promise.resolve();
  #started = false;
  #stopping = false;
  #run: Promise<void> | undefined;
  #client: pg.Client | undefined;
  /** Set by the lease connection's error/end events; read by the loop. */
  #broken: string | undefined;
  #wake: () => void = () => undefined;
  #terms = 0;

  constructor(options: StreamLeaderOptions) {
    this.#options = options;
    this.#pollMs = options.pollMs ?? 2000;
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#renewMs = options.renewMs ?? Math.max(100, Math.floor(this.#leaseMs / 3));
    this.#holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#now = options.monotonicNow ?? (() => performance.now());
    this.#log = options.logger.child({ component: 'stream-leader', holder: this.#holder });
  }

  /** Whether this instance holds the stream now (see `mayAct` for the check before acting). */
  get isLeader(): boolean {
    return this.#term !== undefined;
  }

  /** The lease generation held now (0 on a single-process database), or undefined as a follower. */
  get generation(): number | undefined {
    return this.#term?.generation;
  }

  /** How many times this instance has gained leadership (0 before the first). */
  get terms(): number {
    return this.#terms;
  }

  get holder(): string {
    return this.#holder;
  }

  /**
   * The fence, checked before acting as the leader (storing a stream line, a scheduled sweep):
   * true only while the lease is held and its deadline has not passed by this process's
   * monotonic clock, read now. A process that has just woken from a stop sees false here before
   * any timer has had the chance to run.
   */
  mayAct(): boolean {
    const term = this.#term;
    if (term === undefined) return false;
    if (this.#now() < term.deadline) return true;
    this.#end(`could not renew the lease before its deadline (${this.#leaseMs} ms after the last renewal was sent)`);
    return false;
  }

  /** Starts competing for leadership; idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#run = this.#options.database.dedicatedConnection ? this.#compete(this.#options.database.dedicatedConnection) : this.#always();
  }

  /** Gives leadership up (the stream is stopped first) and releases the lease. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake();
    await this.#run;
  }

  /** One process on its own database (PGlite): it leads until stopped, with no lease. */
  async #always(): Promise<void> {
    await this.#gain(0, Number.POSITIVE_INFINITY, 'single-process database');
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      if (this.#stopping) resolve();
    });
    this.#end('stopping');
    await this.#losing;
  }

  async #compete(open: () => pg.Client): Promise<void> {
    while (!this.#stopping) {
      let failed = false;
      try {
        const client = this.#client ?? (await this.#connect(open));
        const lease = new LeaderLease(sqlOverClient(client), this.#options.leaseName);
        if (this.#term === undefined) await this.#tryTake(lease);
        else await this.#renew(lease, this.#term);
        if (this.#broken !== undefined) throw new Error(this.#broken);
      } catch (err) {
        const reason = errorMessage(err);
        failed = true;
        // a leader keeps its stream (a database restart must not lose the lines it reads) and
        // renews over a new connection until its deadline; if a follower took the lease over
        // meanwhile, that renewal is refused and the stream stops then
        if (this.#term === undefined) this.#log.warn({ reason }, 'stream leader election: cannot reach the database; will retry');
        else if (this.mayAct()) this.#log.warn({ reason, generation: this.#term.generation }, 'stream leader lost its lease connection; renewing over a new one until its deadline');
        this.#drop();
      }
      await this.#sleep(this.#term ? (failed ? Math.min(this.#renewMs, 200) : this.#renewMs) : this.#pollMs);
    }
    if (this.#term) {
      const { generation } = this.#term;
      this.#end('stopping');
      await this.#losing;
      // a clean stop hands over at once instead of after the lease
      const client = this.#client;
      if (client) await this.#timed(new LeaderLease(sqlOverClient(client), this.#options.leaseName).release(this.#holder, generation), this.#leaseMs).catch(() => undefined);
    }
    await this.#losing;
    const client = this.#client;
    this.#client = undefined;
    if (client) await this.#timed(client.end(), 5000).catch(() => this.#drop(client));
  }

  async #tryTake(lease: LeaderLease): Promise<void> {
    // the stream of the last term is stopped before this replica may lead again
    await this.#losing;
    const sentAt = this.#now();
    const generation = await this.#timed(lease.take(this.#holder, this.#leaseMs), Math.max(this.#pollMs, 2000));
    if (generation === undefined) return;
    if (this.#stopping) {
      await lease.release(this.#holder, generation);
      return;
    }
    await this.#gain(generation, sentAt + this.#leaseMs, 'lease taken');
  }

  async #renew(lease: LeaderLease, term: Term): Promise<void> {
    if (!this.mayAct()) return;
    const sentAt = this.#now();
    // an answer after the deadline is of no use: the leadership has ended by then
    const renewed = await this.#timed(lease.renew(this.#holder, term.generation, this.#leaseMs), Math.max(1, term.deadline - sentAt));
    if (this.#term !== term) return;
    if (renewed) {
      term.deadline = sentAt + this.#leaseMs;
      this.#armDeadline(term);
      return;
    }
    const now = await lease.current().catch(() => undefined);
    const by = now && now.generation !== term.generation ? `taken over by ${now.holder} (generation ${now.generation})` : 'lapsed';
    this.#end(`the lease was ${by}: renewal of generation ${term.generation} refused`);
  }

  async #gain(generation: number, deadline: number, how: string): Promise<void> {
    const term: Term = { generation, deadline };
    this.#term = term;
    this.#terms += 1;
    this.#armDeadline(term);
    this.#log.info({ how, generation, term: this.#terms }, 'this replica is now the Gerrit stream leader');
    try {
      await this.#options.onGain(generation);
    } catch (err) {
      this.#log.error({ err }, 'starting the stream as leader failed');
    }
  }

  /**
   * Ends the leadership now: from this moment `isLeader` and `mayAct()` are false; the stream is
   * stopped (`#losing`) before the lease is tried again.
   */
  #end(reason: string): void {
    const term = this.#term;
    if (term === undefined) return;
    this.#term = undefined;
    clearTimeout(this.#deadlineTimer);
    if (reason !== 'stopping') this.#log.warn({ reason, generation: term.generation }, 'lost the Gerrit stream leadership; stopping the stream');
    const previous = this.#losing;
    this.#losing = previous.then(async () => {
      try {
        await this.#options.onLose(reason);
      } catch (err) {
        this.#log.error({ err }, 'stopping the stream on losing leadership failed');
      }
      this.#log.info({ reason, generation: term.generation }, 'this replica is no longer the Gerrit stream leader');
    });
    this.#wake();
  }

  /** Ends the leadership when its deadline passes, even while a renewal hangs. */
  #armDeadline(term: Term): void {
    clearTimeout(this.#deadlineTimer);
    if (!Number.isFinite(term.deadline)) return;
    // a timer may fire a little before the monotonic clock reaches the deadline: then it is armed again
    this.#deadlineTimer = setTimeout(() => {
      if (this.#term === term && this.mayAct()) this.#armDeadline(term);
    }, Math.max(1, Math.ceil(term.deadline - this.#now())));
    this.#deadlineTimer.unref();
  }

  async #connect(open: () => pg.Client): Promise<pg.Client> {
    const client = open();
    this.#broken = undefined;
    client.on('error', (err: Error) => this.#fail(client, `error: ${err.message}`));
    client.on('end', () => this.#fail(client, 'connection ended'));
    this.#client = client;
    await this.#timed(client.connect(), Math.max(this.#pollMs, 5000));
    return client;
  }

  #fail(client: pg.Client, reason: string): void {
    if (client !== this.#client) return;
    this.#broken ??= reason;
    this.#wake();
  }

  /** Forgets the lease connection; closing it is best effort (a dead socket may never answer). */
  #drop(client = this.#client): void {
    if (client === this.#client) this.#client = undefined;
    this.#broken = undefined;
    if (!client) return;
    client.end().catch(() => undefined);
    // a socket stalled on a partition would never finish end(): cut it
    (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
  }

  /** Rejects when `promise` takes longer than `limitMs`; the loop then drops the connection. */
  #timed<T>(promise: Promise<T>, limitMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`database did not answer within ${Math.round(limitMs)} ms`)), limitMs);
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
