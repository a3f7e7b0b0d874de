import type pg from 'pg';

/** Statements with more parameters than this are big multi-row writes whose shape varies: never prepared. */
const MAX_PARAMETERS = 100;

/** PostgreSQL's code for "cached plan must not change result type" (a table changed under a prepared `select *`). */
const FEATURE_NOT_SUPPORTED = '0A000';

type Query = (text: unknown, values?: unknown, callback?: unknown) => unknown;

/**
 * Makes a pooled connection prepare each statement text the first time it runs and execute the
 * prepared statement afterwards, so PostgreSQL parses and plans it once per connection rather
 * than on every call (the engine's statements spend about as long being planned as being run).
 * At most `limit` texts per connection; texts after that run unprepared, so statements whose text
 * varies (lists of values) cannot grow the server's memory without bound.
 *
 * A migration run by another replica can change a table under a prepared statement; PostgreSQL
 * then refuses it once ("cached plan must not change result type"). That error makes this
 * connection forget its statements and prepare them afresh under new names.
 */
export function prepareStatements(client: pg.PoolClient, limit: number): void {
  if (limit <= 0) return;
  const query = client.query.bind(client) as Query;
  let names = new Map<string, string>();
  let generation = 0;
  const replacement: Query = (text, values, callback) => {
    if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || values.length > MAX_PARAMETERS || callback !== undefined) return query(text, values, callback);
    let name = names.get(text);
    if (name === undefined && names.size < limit) {
      name = `rollgate_${generation}_${names.size}`;
      names.set(text, name);
    }
    if (name === undefined) return query(text, values);
    return (query({ name, text, values }) as Promise<unknown>).catch((err: unknown) => {
      if ((err as { code?: string }).code === FEATURE_NOT_SUPPORTED) {
        names = new Map();
        generation++;
      }
      throw err;
    });
  };
  (client as unknown as { query: Query }).query = replacement;
}
