import { createWriteStream, existsSync, openSync } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { ChainBreak, RecordedHead } from '../audit/audit-chain.js';
import { AuditStore, type AuditVerification } from '../audit/audit-store.js';
import { headsPostedInGerrit, type PostedHeads } from '../audit/gerrit-heads.js';
import { loadConfig } from '../config.js';
import { configuredTarget, createDatabase } from '../db/database.js';
import { RollgateError } from '../errors.js';
import { GerritRestClient } from '../gerrit/gerrit-rest-client.js';
import { UsageError } from './cli-args.js';

/** No audit trail to read, or no file to write to; said in words, exit 1. */
class AuditCommandError extends RollgateError {
  override readonly code = 'audit';
}

/** `rollgate audit verify --json`: one object on stdout, whatever the outcome. */
export type AuditVerifyJson =
  | {
      readonly ok: true;
      readonly rows: number;
      /** The newest row, `{id, hash}`, worth keeping elsewhere to pass as `--head ID:HASH` later; null with no rows. */
      readonly head: RecordedHead | null;
      /** The `--head` given, when one was (it is in the trail, unchanged). */
      readonly checkedHead: RecordedHead | null;
      /** With `--from-gerrit`: the heads rollgate posted in review messages, all found unchanged, and on how many changes. */
      readonly gerrit: { readonly heads: number; readonly changes: number } | null;
    }
  | {
      readonly ok: false;
      /** Rows before the break, which are intact. */
      readonly rows: number;
      /** The first row that cannot be trusted: its id, kind and time when it exists, why, in words. */
      readonly broken: ChainBreak;
      readonly checkedHead: RecordedHead | null;
      readonly gerrit: { readonly heads: number; readonly changes: number } | null;
    };

export interface AuditVerifyOptions {
  readonly head?: string | undefined;
  readonly fromGerrit: boolean;
  readonly json: boolean;
}

/**
 * `rollgate audit verify`: walks the whole chain; exit 0 when intact (printing the head hash,
 * worth keeping somewhere else), exit 1 naming the first broken row. `--head ID:HASH` is a head
 * printed earlier: that row must still be there, unchanged. `--from-gerrit` does the same for
 * every head rollgate posted in its review messages, read back from Gerrit, where the database
 * user cannot rewrite them.
 */
export async function auditVerifyCommand(options: AuditVerifyOptions): Promise<number> {
  const head = options.head === undefined ? undefined : /^(\d+):([0-9a-f]{64})$/.exec(options.head);
  if (head === null) throw new UsageError(`rollgate audit verify: --head must be ID:HASH as audit verify printed it (e.g. 1234:3f2a…, 64 hex digits), got "${options.head}"`);
  const recorded: RecordedHead[] = head ? [{ id: Number(head[1]), hash: head[2]! }] : [];
  const gerritRest = options.fromGerrit ? loadConfig().gerritRest : undefined;
  if (options.fromGerrit && !gerritRest) {
    throw new UsageError('rollgate audit verify: --from-gerrit reads review messages over Gerrit REST: set GERRIT_URL, GERRIT_HTTP_USER and GERRIT_HTTP_PASSWORD_FILE as for rollgate serve');
  }
  const { result, posted } = await withAudit(async (audit) => {
    const posted = gerritRest ? await headsPostedInGerrit(new GerritRestClient(gerritRest), gerritRest.user, audit) : undefined;
    return { result: await audit.verify([...recorded, ...(posted?.heads ?? [])]), posted };
  });
  const text = options.json ? JSON.stringify(verificationJson(result, recorded[0], posted)) : verificationText(result, head !== undefined, posted);
  process.stdout.write(`${text}\n`);
  return result.ok ? 0 : 1;
}

function verificationJson(r: AuditVerification, checkedHead: RecordedHead | undefined, posted: PostedHeads | undefined): AuditVerifyJson {
  const common = { checkedHead: checkedHead ?? null, gerrit: posted ? { heads: posted.heads.length, changes: posted.changes } : null };
  return r.ok ? { ok: true, rows: r.rows, head: r.head ?? null, ...common } : { ok: false, rows: r.rows, broken: r.broken, ...common };
}

function verificationText(r: AuditVerification, checkedHead: boolean, posted: PostedHeads | undefined): string {
  if (r.ok) {
    if (!r.head) return `audit trail intact: 0 rows (nothing recorded yet)${posted && posted.heads.length > 0 ? `, but Gerrit shows ${posted.heads.length} heads rollgate posted` : ''}`;
    const checked = [
      ...(checkedHead ? ['the recorded head is in it, unchanged'] : []),
      ...(posted ? [posted.heads.length === 0 ? 'no heads posted by rollgate found in Gerrit' : `the ${posted.heads.length} heads rollgate posted on ${posted.changes} changes in Gerrit are in it, unchanged`] : []),
    ];
    return `audit trail intact: ${r.rows} rows, head ${r.head.id}:${r.head.hash}${checked.length > 0 ? ` (${checked.join('; ')})` : ''}`;
  }
  const b = r.broken;
  const which = b.kind !== undefined ? `row #${b.id} (${b.kind}, ${b.at})` : `row #${b.id}`;
  return `audit trail broken at ${which}: ${b.message}\n${r.rows} rows before it are intact; nothing from row #${b.id} on can be trusted`;
}

/** `rollgate audit export`: writes entries as JSON lines, with their hashes, so the chain can be checked elsewhere. */
export async function auditExportCommand(values: { readonly out?: string | undefined; readonly after?: string | undefined }): Promise<number> {
  if (values.after !== undefined && !/^\d+$/.test(values.after)) throw new UsageError(`rollgate audit export: --after must be a row id (0 or more), got "${values.after}"`);
  // without --after, every row, so an exported trail shows any row put before the first
  const after = values.after === undefined ? undefined : Number(values.after);
  const out = values.out === undefined ? process.stdout : createWriteStream('', { fd: openOut(values.out) });
  const { rows, first, last } = await withAudit(async (audit) => {
    let rows = 0;
    let first: number | undefined;
    let last: number | undefined;
    for await (const entry of audit.entries(after)) {
      // respect backpressure: the trail may be far larger than memory
      if (!out.write(`${JSON.stringify(entry)}\n`)) await once(out, 'drain');
      rows++;
      first ??= entry.id;
      last = entry.id;
    }
    return { rows, first, last };
  });
  if (values.out !== undefined) {
    await endStream(out);
    process.stdout.write(`exported ${rows} rows${last !== undefined ? ` (#${first} to #${last})` : ''} to ${values.out}\n`);
  }
  return 0;
}

function openOut(file: string): number {
  try {
    return openSync(file, 'w');
  } catch (err) {
    throw new AuditCommandError(`cannot write ${file}: ${(err as Error).message}`);
  }
}

async function withAudit<T>(fn: (audit: AuditStore) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // reading never creates a database
  if (!config.databaseUrl && !config.dataDir.startsWith('memory://') && !existsSync(config.dataDir)) {
    throw new AuditCommandError(`no database at ${config.dataDir} (ROLLGATE_DATA_DIR); set it, or DATABASE_URL, to the database rollgate serve uses`);
  }
  const database = await createDatabase(configuredTarget(config));
  try {
    return await fn(new AuditStore(database.db));
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') throw new AuditCommandError('this database has no audit trail yet: run rollgate migrate (or rollgate serve) first');
    throw err;
  } finally {
    await database.close();
  }
}

function endStream(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
}
