import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { EnvironmentReads } from './environment-reads.js';
import { IntakeReads } from './intake-reads.js';
import { RolloutPeopleReads } from './rollout-people.js';
import { StepOutputStore } from './step-output-store.js';

/** The read-only queries the web console needs beyond `RolloutReads`, over one database. */
export interface ConsoleReads {
  readonly environments: EnvironmentReads;
  readonly intake: IntakeReads;
  readonly people: RolloutPeopleReads;
  /** Step output as it was stored while steps ran. */
  readonly output: StepOutputStore;
}

export function consoleReads(db: Kysely<Database>): ConsoleReads {
  return { environments: new EnvironmentReads(db), intake: new IntakeReads(db), people: new RolloutPeopleReads(db), output: new StepOutputStore(db) };
}
