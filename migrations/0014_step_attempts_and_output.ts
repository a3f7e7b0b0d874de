import { sql, type Kysely } from 'kysely';

/**
 * Every start of a step is an attempt with its own row (`number` 1, 2, 3… never reused, even when
 * an operator's retry starts the step's retry count again), and a running attempt's output is
 * stored as it comes, in chunks the page streams (`id` orders them across a rollout; `offset` is
 * where a chunk starts in its attempt's output, so dropped early output can be said to be missing).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('step_attempts')
    .addColumn('rollout_id', 'bigint', (c) => c.notNull().references('rollouts.id').onDelete('cascade'))
    .addColumn('step_id', 'text', (c) => c.notNull())
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('worker', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('running'))
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addColumn('exit_code', 'integer')
    .addColumn('http_status', 'integer')
    .addColumn('error', 'text')
    .addPrimaryKeyConstraint('step_attempts_pk', ['rollout_id', 'step_id', 'number'])
    .execute();
  await db.schema
    .createTable('step_output')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('rollout_id', 'bigint', (c) => c.notNull().references('rollouts.id').onDelete('cascade'))
    .addColumn('step_id', 'text', (c) => c.notNull())
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('offset', 'bigint', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('step_output_by_rollout').on('step_output').columns(['rollout_id', 'id']).execute();
  await db.schema.createIndex('step_output_by_attempt').on('step_output').columns(['rollout_id', 'step_id', 'number', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('step_output').ifExists().execute();
  await db.schema.dropTable('step_attempts').ifExists().execute();
}
