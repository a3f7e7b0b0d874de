import { sql } from 'kysely';
import type pg from 'pg';
import type { DatabaseHandle } from './database.js';
import type { Logger } from '../log.js';

/** The PostgreSQL channel rollgate processes tell each other on that work is waiting. */
export const WORK_CHANNEL = 'rollgate_work';
const RECONNECT_MS = 1000;

/**
 * Wakes idle workers of every rollgate process on one PostgreSQL database when work is waiting
 * (a rollout was queued or approved, an environment was freed), instead of at their next poll:
 * `notify()` sends a NOTIFY, and each process LISTENs on a connection of its own. A notification
 * is a hint only: one lost while the listening connection was down costs a poll period, never a
 * rollout, because the database stays the queue. On PGlite there is one process and its stages
 * wake each other in memory, so both are no-ops there.
 */
export class WorkSignal {
  readonly #handle: Pick<DatabaseHandle, 'db' | 'dedicatedConnection'>;
  readonly #logger: Logger;
  readonly #onSignal: () => void;
  #client: pg.Client | undefined;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(handle: Pick<DatabaseHandle, 'db' | 'dedicatedConnection'>, logger: Logger, onSignal: () => void) {
    this.#handle = handle;
    this.#logger = logger;
    this.#onSignal = onSignal;
  }

  /** Starts listening (PostgreSQL); a lost connection is made again a second later. */
  async start(): Promise<void> {
    if (!this.#handle.dedicatedConnection || this.#stopped) return;
    const client = this.#handle.dedicatedConnection();
    this.#client = client;
    const lost = (err?: Error) => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.end().catch(() => {});
      if (this.#stopped) return;
      this.#logger.warn({ err }, 'lost the connection that listens for work; listening again in a second (meanwhile workers poll)');
      this.#retry = setTimeout(() => void this.start(), RECONNECT_MS);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', () => this.#onSignal());
    try {
      await client.connect();
      await client.query(`LISTEN ${WORK_CHANNEL}`);
    } catch (err) {
      lost(err as Error);
    }
  }

  /** Tells every process on the database (this one included) that work is waiting. */
  notify(): void {
    if (!this.#handle.dedicatedConnection || this.#stopped) return;
    sql`select pg_notify(${WORK_CHANNEL}, '')`.execute(this.#handle.db).catch((err: unknown) => this.#logger.warn({ err }, 'could not tell other rollgate processes about new work'));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }
}
