import { rmSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryHash, GENESIS_HASH, type AuditEntry } from '../../src/audit/audit-chain.js';
import { AuditStore } from '../../src/audit/audit-store.js';
import { withAuditTriggerOff } from '../helpers/audit-tamper.js';
import { BACKENDS, createCliTestDatabase, type CliTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { doubleSettings } from '../helpers/double-settings.js';
import { SERVICE_ACCOUNT_ID, startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { runCli } from '../helpers/run-cli.js';
import { startServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { waitFor } from '../helpers/wait-for.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * Attack (issue 11, hole 10): someone with the database (the owner role, or a superuser) rewrites
 * the audit trail consistently (every hash recomputed) or deletes its newest rows; the chain
 * alone still verifies. The heads rollgate posted in its review messages live in Gerrit, out of
 * reach: `audit verify --from-gerrit` compares them with the trail and finds both.
 */
describe.each(BACKENDS)('%s: a consistently rewritten audit trail is caught by the heads posted in Gerrit', (backend) => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let env: Record<string, string>;
  let withDb: CliTestDatabase['withDb'];
  const tmp = tempDir('rollgate-gerrit-heads-');

  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    // rollgate's own account, which wrote the messages whose heads count
    rest.addAccount({ _account_id: SERVICE_ACCOUNT_ID, username: rest.user, name: 'rollgate', email: 'rollgate@example.com' }, []);
    let dbEnv: Record<string, string>;
    ({ database, env: dbEnv, withDb } = await createCliTestDatabase(backend, tmp));
    env = { ...dbEnv, ...doubleSettings(tmp, { rest }) };
    const { service } = await startServiceOnDoubles({ name: 'gerrit-heads', database, rest, ssh, env: () => dbEnv });
    try {
      for (const number of [8801, 8802]) {
        const change = mergedChange(number, bob, { commitMessage: `Change ${number}\n\nRollout-Justification: INC-${number}\n`, votes: { 'Code-Review': [{ account: alice, value: 2 }] }, submitted: new Date().toISOString().replace('T', ' ').replace('Z', '000000') });
        rest.setChange(change);
        ssh.push(changeMergedEvent(change));
        await waitFor(`change ${number} reported`, async () => {
          const outbox = await service.database.db.selectFrom('outbox').select('status').where('change_number', '=', number).execute();
          const done = rest.reviews.some((r) => r.changeNumber === number && /SUCCEEDED|FAILED/.test(r.message));
          return done && outbox.length > 0 && outbox.every((o) => o.status === 'sent');
        }, 60_000);
      }
    } finally {
      await service.stop();
    }
  }, 180_000);
  afterAll(async () => {
    await database?.drop();
    await ssh?.close();
    await rest?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('posts the audit head as the last line of every review message', () => {
    expect(rest.reviews.length).toBeGreaterThanOrEqual(4);
    for (const review of rest.reviews) expect(review.message).toMatch(/\n\nrollgate-audit: \d+:[0-9a-f]{64}$/);
  });

  it('finds the trail intact when it is, reading the heads of the changes in Gerrit', async () => {
    const r = await runCli(['audit', 'verify', '--from-gerrit'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^audit trail intact: \\d+ rows, head \\d+:[0-9a-f]{64} \\(the ${rest.reviews.length} heads rollgate posted on 2 changes in Gerrit are in it, unchanged\\)\\n$`));
  });

  /** Rewrites the chain as an attacker with the table would: `edit` each entry, recompute every hash. */
  async function rewriteChain(edit: (e: AuditEntry) => AuditEntry, deleteFrom?: number): Promise<void> {
    await withDb((h) =>
      withAuditTriggerOff(h.db, async () => {
        if (deleteFrom !== undefined) await sql`delete from audit_log where id >= ${deleteFrom}`.execute(h.db);
        const entries: AuditEntry[] = [];
        for await (const e of new AuditStore(h.db).entries()) entries.push(e);
        let prev = GENESIS_HASH;
        for (const e of entries) {
          const content = edit(e);
          const hash = entryHash(prev, content);
          await sql`update audit_log set summary = ${content.summary}, prev_hash = ${prev}, hash = ${hash} where id = ${e.id}`.execute(h.db);
          prev = hash;
        }
      }),
    );
  }

  it('catches a row rewritten with every later hash recomputed, which the chain alone does not show', async () => {
    const original = (await withDb((h) => h.db.selectFrom('audit_log').select('summary').where('id', '=', 2).executeTakeFirstOrThrow())).summary;
    await rewriteChain((e) => (e.id === 2 ? { ...e, summary: 'nothing happened here' } : e));
    const plain = await runCli(['audit', 'verify'], env);
    expect(plain.code).toBe(0); // the rewrite is consistent: without an anchor it looks intact
    const r = await runCli(['audit', 'verify', '--from-gerrit'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^audit trail broken at row #\d+ \([a-z-]+, [^)]+\): its hash is not the one recorded for it earlier in a review message on payments\/api~880[12] \(the chain was rewritten up to here\)\n/);
    // put it back as it was: the same content gives the same hashes, and Gerrit agrees again
    await rewriteChain((e) => (e.id === 2 ? { ...e, summary: original } : e));
    expect((await runCli(['audit', 'verify', '--from-gerrit'], env)).code).toBe(0);
  });

  it('catches the newest rows deleted (a whole rollout gone), which the chain alone does not show', async () => {
    const first = await withDb((h) => h.db.selectFrom('audit_log').select('id').where('change_number', '=', 8802).orderBy('id').limit(1).executeTakeFirstOrThrow());
    await rewriteChain((e) => e, first.id);
    expect((await runCli(['audit', 'verify'], env)).code).toBe(0);
    const r = await runCli(['audit', 'verify', '--from-gerrit'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^audit trail broken at row #${first.id}: missing: the trail ends at #${first.id - 1}, but row #\\d+ was recorded earlier in a review message on payments/api~8802 \\(the newest rows were deleted\\)\n`));
  });

  it('says what it needs without Gerrit REST settings', async () => {
    const { GERRIT_URL: _u, GERRIT_HTTP_USER: _v, GERRIT_HTTP_PASSWORD_FILE: _w, ...withoutGerrit } = env;
    const r = await runCli(['audit', 'verify', '--from-gerrit'], withoutGerrit);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('rollgate audit verify: --from-gerrit reads review messages over Gerrit REST: set GERRIT_URL, GERRIT_HTTP_USER and GERRIT_HTTP_PASSWORD_FILE');
  });
});
