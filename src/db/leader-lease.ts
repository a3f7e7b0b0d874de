import { CompiledQuery, type Kysely } from 'kysely';
import type pg from 'pg';
import type { Database } from './schema.js';

/** Runs one SQL statement and returns its rows: over the pool (Kysely) or over a connection of its own (pg.Client). */
export type RunSql = <R>(text: string, values: readonly unknown[]) => Promise<R[]>;

export function sqlOverKysely(db: Kysely<Database>): RunSql {
  return async <R>(text: string, values: readonly unknown[]) => (await db.executeQuery<R>(CompiledQuery.raw(text, [...values]))).rows as R[];
}

/** The stream leader renews over a connection of its own, so a busy pool never makes it late. */
export function sqlOverClient(client: pg.Client): RunSql {
  return async <R>(text: string, values: readonly unknown[]) => (await client.query(text, [...values])).rows as R[];
}

/** Who holds a lease now, as the database sees it. */
export interface LeaseHolder {
  readonly holder: string;
  readonly generation: number;
  readonly expiresAt: Date;
  /** `expires_at` has passed by the database's clock: anyone may take it. */
  readonly lapsed: boolean;
}

/** The lease the Gerrit stream's leader holds. */
export const STREAM_LEADER_LEASE = 'gerrit-stream';

/**
 * Leadership with a bounded lifetime, in the `leader_leases` row named `name`. Every judgement
 * of time is the database's (`now()`), never a replica's clock, so replicas whose clocks differ
 * still agree on who holds it. A holder whose database session has ended is replaced at once;
 * one that is alive but silent (hung, partitioned) once its lease lapses. Each call is one statement: two replicas taking a lapsed lease at
 * once are serialised by the row lock, and the second finds it no longer lapsed.
 */
export class LeaderLease {
  readonly #run: RunSql;
  readonly #name: string;

  constructor(run: RunSql, name: string = STREAM_LEADER_LEASE) {
    this.#run = run;
    this.#name = name;
  }

  get name(): string {
    return this.#name;
  }

  /**
   * Takes the lease for `holder` for `leaseMs`, recording this database session, when nobody
   * holds it, it has lapsed, the holder's session no longer exists (it was killed; a live
   * leader that lost its connection renews over a new one, and is refused if this came first), or
   * `holder` itself still holds it (a leader that gave up by its own deadline while its last
   * renewal still landed). Returns the new generation, one more than the last, or undefined
   * while another holder's lease runs.
   */
  async take(holder: string, leaseMs: number): Promise<number | undefined> {
    const rows = await this.#run<{ generation: number }>(
      `insert into leader_leases as l (name, holder, generation, expires_at, holder_pid, holder_backend_start)
       values ($1, $2, 1, now() + $3 * interval '1 millisecond', pg_backend_pid(), (select backend_start from pg_stat_activity where pid = pg_backend_pid()))
       on conflict (name) do update
         set holder = excluded.holder, generation = l.generation + 1, expires_at = excluded.expires_at,
             holder_pid = excluded.holder_pid, holder_backend_start = excluded.holder_backend_start, acquired_at = now(), renewed_at = now()
         where l.expires_at < now() or l.holder = excluded.holder
            or (l.holder_pid is not null and not exists (
                 select 1 from pg_stat_activity a where a.pid = l.holder_pid and a.backend_start = l.holder_backend_start))
       returning generation`,
      [this.#name, holder, leaseMs],
    );
    return rows[0] === undefined ? undefined : Number(rows[0].generation);
  }

  /**
   * Extends the lease by `leaseMs` from now, only if `holder` still holds `generation` and it
   * has not lapsed, and records this database session as the holder's (a leader renews over a
   * new connection after losing one): false means it was lost (taken over, or lapsed), and the
   * caller must stop.
   */
  async renew(holder: string, generation: number, leaseMs: number): Promise<boolean> {
    const rows = await this.#run<{ generation: number }>(
      `update leader_leases set expires_at = now() + $4 * interval '1 millisecond', renewed_at = now(),
         holder_pid = pg_backend_pid(), holder_backend_start = (select backend_start from pg_stat_activity where pid = pg_backend_pid())
       where name = $1 and holder = $2 and generation = $3 and expires_at >= now()
       returning generation`,
      [this.#name, holder, generation, leaseMs],
    );
    return rows.length === 1;
  }

  /** Ends `holder`'s lease of `generation` now (a clean stop), so the next try by another replica takes it. */
  async release(holder: string, generation: number): Promise<void> {
    await this.#run(`update leader_leases set expires_at = now() - interval '1 second' where name = $1 and holder = $2 and generation = $3`, [this.#name, holder, generation]);
  }

  async current(): Promise<LeaseHolder | undefined> {
    const rows = await this.#run<{ holder: string; generation: number; expires_at: Date; lapsed: boolean }>(
      `select holder, generation, expires_at, expires_at < now() as lapsed from leader_leases where name = $1`,
      [this.#name],
    );
    const row = rows[0];
    return row && { holder: row.holder, generation: Number(row.generation), expiresAt: new Date(row.expires_at), lapsed: row.lapsed };
  }
}
