import { sql, type Kysely } from 'kysely';
import type { Database, RolloutRow } from '../db/schema.js';

/** One environment as the environments page shows it. */
export interface EnvironmentState {
  readonly environment: string;
  /** The last rollout that succeeded there: what is deployed. */
  readonly deployed: RolloutRow | undefined;
  /** Running or waiting at an approval gate: what holds the environment now (one, in a healthy queue). */
  readonly active: readonly RolloutRow[];
  /** Queued behind it, in the order they will run (merge order, as the runner takes them). */
  readonly queued: readonly RolloutRow[];
  /** Held for an approval: not in the queue until someone approves. */
  readonly held: readonly RolloutRow[];
}

/** Reads what each environment has deployed, runs and waits for; changes nothing. */
export class EnvironmentReads {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** The environments and rules rollouts were made for, for a filter's choices (the policy may have dropped some). */
  async namesInUse(): Promise<{ readonly environments: string[]; readonly rules: string[] }> {
    return { environments: await this.#distinct('environment'), rules: await this.#distinct('rule') };
  }

  /**
   * The distinct values of an indexed column, one index probe per value (a "skip scan" written as
   * a recursive query): a handful of environments or rules cost a handful of probes, not a pass
   * over every rollout ever recorded.
   */
  async #distinct(column: 'environment' | 'rule'): Promise<string[]> {
    const c = sql.ref(column);
    const { rows } = await sql<{ value: string }>`with recursive v(value) as (
        (select ${c} from rollouts order by ${c} limit 1)
        union all
        select (select ${c} from rollouts where ${c} > v.value order by ${c} limit 1) from v where v.value is not null
      ) select value from v where value is not null`.execute(this.#db);
    return rows.map((r) => r.value);
  }

  /** Every environment with a rollout, and `known` ones (the policy's) even without one, by name. */
  async environments(known: readonly string[] = []): Promise<EnvironmentState[]> {
    const deployed = await this.#db
      .selectFrom('rollouts')
      .selectAll()
      .distinctOn('environment')
      .where('status', '=', 'succeeded')
      .orderBy('environment')
      .orderBy('finished_at', (o) => o.desc().nullsLast())
      .orderBy('id', 'desc')
      .execute();
    // the queue's order is the runner's (src/rollouts/rollout-lease-store.ts): merge time, then id
    const open = await this.#db
      .selectFrom('rollouts')
      .selectAll()
      .where('status', 'in', ['running', 'waiting', 'queued', 'held'])
      .orderBy('merged_at')
      .orderBy('id')
      .execute();
    const names = [...new Set([...known, ...deployed.map((r) => r.environment), ...open.map((r) => r.environment)])].sort();
    return names.map((environment) => {
      const here = open.filter((r) => r.environment === environment);
      return {
        environment,
        deployed: deployed.find((r) => r.environment === environment),
        active: here.filter((r) => r.status === 'running' || r.status === 'waiting'),
        queued: here.filter((r) => r.status === 'queued'),
        held: here.filter((r) => r.status === 'held'),
      };
    });
  }
}
