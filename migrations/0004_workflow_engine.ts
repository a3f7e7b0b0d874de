import { sql, type Kysely } from 'kysely';

/**
 * The durable workflow engine: leases and heartbeats on rollouts and steps (crash recovery),
 * the phase a rollout is in (forward or rollback), operator requests (cancel), approval-gate and
 * workflow deadlines, the run number (a retried rollout reports again), and one active rollout
 * per environment, enforced by the database rather than by the workers agreeing.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('rollouts')
    .addColumn('lease_expires_at', 'timestamptz')
    .addColumn('phase', 'text', (c) => c.notNull().defaultTo('forward'))
    .addColumn('run', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('request', 'text')
    .addColumn('wake_at', 'timestamptz')
    .addColumn('deadline_at', 'timestamptz')
    .addColumn('outcome', 'text')
    .addColumn('superseded_by', 'bigint')
    .execute();
  // 'running' and 'waiting' (parked at an approval gate) both hold the environment
  await sql`create unique index rollouts_one_active_per_environment on rollouts (environment) where status in ('running', 'waiting')`.execute(db);
  await db.schema.createIndex('rollouts_queue').on('rollouts').columns(['environment', 'status', 'id']).execute();

  await db.schema
    .alterTable('rollout_steps')
    .addColumn('kind', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'timestamptz')
    .addColumn('idempotency_key', 'text')
    .addColumn('http_status', 'integer')
    .addColumn('deadline_at', 'timestamptz')
    .addColumn('note', 'text')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('rollouts_queue').ifExists().execute();
  await db.schema.dropIndex('rollouts_one_active_per_environment').ifExists().execute();
  for (const column of ['kind', 'lease_owner', 'lease_expires_at', 'idempotency_key', 'http_status', 'deadline_at', 'note']) {
    await db.schema.alterTable('rollout_steps').dropColumn(column).execute();
  }
  for (const column of ['lease_expires_at', 'phase', 'run', 'request', 'wake_at', 'deadline_at', 'outcome', 'superseded_by']) {
    await db.schema.alterTable('rollouts').dropColumn(column).execute();
  }
}
