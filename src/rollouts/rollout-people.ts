import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, RolloutRow } from '../db/schema.js';

/** A person as rollgate recorded them from Gerrit (any field may be missing). */
export interface RecordedPerson {
  readonly username?: string | undefined;
  readonly name?: string | undefined;
  readonly email?: string | undefined;
}

/**
 * Who wrote and who merged a rollout's change. Owner and uploader come from the decision's inputs
 * (read from Gerrit REST when it decided); the submitter only from the `change-merged` event
 * Gerrit sent, so a merge found by back-fill, which REST reports without one, has none.
 */
export interface RolloutPeople {
  readonly owner: RecordedPerson | undefined;
  readonly uploader: RecordedPerson | undefined;
  readonly submitter: RecordedPerson | undefined;
  /** Whether the merge reached rollgate only through back-fill (so no submitter is known). */
  readonly backfilledOnly: boolean;
}

const PersonSchema = z.looseObject({ username: z.string().optional(), name: z.string().optional(), email: z.string().optional() });
const AuthorsSchema = z.looseObject({ owner: PersonSchema.optional(), uploader: PersonSchema.nullish() });
const MergedSchema = z.looseObject({ submitter: PersonSchema.optional() });

/** Reads the people of a rollout's change from what rollgate stored; changes nothing. */
export class RolloutPeopleReads {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async of(r: RolloutRow): Promise<RolloutPeople> {
    const decisions = await this.#db.selectFrom('decisions').select('inputs').where('rollout_id', '=', r.id).orderBy('id').execute();
    const authors = decisions.map((d) => AuthorsSchema.safeParse(d.inputs)).find((a) => a.success && a.data.owner !== undefined);
    // the merge's dedup key (src/gerrit/change-key.ts); a webhook's is the same key behind its source
    const key = `change-merged:${r.project}~${r.change_number}:${r.revision}`;
    const merges = await this.#db
      .selectFrom('events')
      .select(['raw', 'source'])
      .where((eb) => eb.or([eb('dedup_key', '=', key), eb(sql<string>`right(dedup_key, ${key.length + 1})`, '=', `:${key}`)]))
      .orderBy('id')
      .execute();
    const submitter = merges.map((m) => MergedSchema.safeParse(safeJson(m.raw))).find((m) => m.success && m.data.submitter !== undefined);
    return {
      owner: authors?.data?.owner,
      uploader: authors?.data?.uploader ?? undefined,
      submitter: submitter?.data?.submitter,
      backfilledOnly: merges.length > 0 && merges.every((m) => m.source === 'backfill'),
    };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
