import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startService, type RunningService } from '../../src/service/service.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { startRealGerrit, type ChangeMessage, type GerritUser, type RealGerrit } from '../real-gerrit/gerrit-server.js';
import { gerritSettings } from '../real-gerrit/rollgate-settings.js';
import { beforeAllOrFailEachTest } from '../real-gerrit/fail-if-setup-failed.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * Readiness before merge on a real Gerrit 3.10: with gerrit-plugin-config/readiness-label.config
 * applied and ROLLGATE_READINESS_LABEL=Rollout-Ready, rollgate votes on the OPEN changes a rollout
 * rule matches, +1 when every matching rule would allow the rollout if the change merged now, 0
 * otherwise, and says why in a review message; it posts only when its vote changes. Everything is
 * read back over Gerrit REST, as a reviewer would see it.
 */
const backend = BACKENDS.at(-1)!;
const FIXTURES = path.resolve('test/fixtures');
const MESSAGES_DIR = path.resolve('test-output/gerrit-messages');
const LABEL = 'Rollout-Ready';
/** Several waits of up to 60 s each, on a machine that also runs Gerrit's JVM (as in rollgate-on-gerrit.test.ts). */
const SCENARIO_TIMEOUT_MS = 180_000;

/** Keeps a review message as Gerrit REST returned it, for a person to read. */
function recordMessage(name: string, message: ChangeMessage): void {
  mkdirSync(MESSAGES_DIR, { recursive: true });
  const file = path.join(MESSAGES_DIR, `${name}.txt`);
  writeFileSync(file, message.message);
  console.log(`[e2e] Gerrit message recorded: ${file}`);
}

/** Gerrit puts "Patch Set N: <votes>" and a blank line before the text a review posted. */
function postedText(message: ChangeMessage): string {
  return message.message.replace(/^Patch Set \d+:[^\n]*\n\n/, '');
}

/** The line that names the approver a rule still needs (checked on stable parts: the wording may change). */
function missingApprover(message: ChangeMessage): string | undefined {
  return postedText(message).split('\n').find((line) => line.includes('role prod-deployer'));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A stream event is `username`'s review of `change` that carries a vote on `label`. */
function isVoteEvent(raw: string, change: number, username: string, label: string): boolean {
  const event: unknown = JSON.parse(raw);
  if (!isRecord(event) || !isRecord(event.change) || !isRecord(event.author)) return false;
  const approvals = Array.isArray(event.approvals) ? event.approvals : [];
  return (
    event.change.number === change &&
    event.author.username === username &&
    approvals.some((a: unknown) => isRecord(a) && a.type === label)
  );
}

describe(`rollgate's ${LABEL} vote on open changes, on a real Gerrit (${backend})`, () => {
  let gerrit: RealGerrit;
  let database: TestDatabase;
  let service: RunningService;
  const started = Date.now();

  beforeAllOrFailEachTest('real Gerrit for the readiness suite', async () => {
    gerrit = await startRealGerrit({ readinessLabel: true });
    console.log(`[e2e] Gerrit boot: ${JSON.stringify(gerrit.timings)}`);
    // a branch no rollout rule matches: rollgate never votes there, so the label can be tried by hand
    await gerrit.rest(gerrit.users.admin, 'PUT', `/projects/${encodeURIComponent(gerrit.project)}/branches/sandbox`, { revision: gerrit.branch });
    database = await createTestDatabase(backend);
    const tmp = tempDir('rollgate-gerrit-readiness-');
    const config = loadConfig({
      PATH: process.env.PATH,
      PORT: '0',
      ROLLGATE_DATA_DIR: 'memory://',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
      ROLLGATE_POLICY_DIR: path.join(FIXTURES, 'gerrit-policies'),
      ROLLGATE_WORK_DIR: FIXTURES,
      ROLLGATE_SETTLE_MS: '500',
      ROLLGATE_READINESS_LABEL: LABEL,
      ...gerritSettings(gerrit, tmp),
    });
    service = await startService(config, silentLogger(), { idleMs: 100 });
    await waitFor('the stream to connect', () => service.streamConnected(), 30_000);
  });

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await gerrit?.stop();
    console.log(`[e2e] suite time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  const changePath = (change: number): string => `/changes/${encodeURIComponent(gerrit.project)}~${change}`;
  /** The change's labels on its current patch set, as `user` sees them. */
  const labelsAs = async (user: GerritUser, change: number): Promise<Record<string, unknown>> => {
    const info = await gerrit.rest(user, 'GET', `${changePath(change)}?o=LABELS&o=DETAILED_LABELS`);
    if (!isRecord(info)) throw new Error(`change ${change}: ${JSON.stringify(info)}`);
    return info;
  };
  /** rollgate's vote on the label on the current patch set; no vote reads as 0, as Gerrit shows it. */
  const rollgateVote = async (change: number): Promise<number> => {
    const labels = (await labelsAs(gerrit.users.admin, change)).labels;
    const label = isRecord(labels) ? labels[LABEL] : undefined;
    const all = isRecord(label) && Array.isArray(label.all) ? label.all : [];
    const mine: unknown = all.find((a: unknown) => isRecord(a) && a._account_id === gerrit.service.accountId);
    return isRecord(mine) && typeof mine.value === 'number' ? mine.value : 0;
  };
  const readinessMessages = async (change: number): Promise<ChangeMessage[]> =>
    (await gerrit.getChangeMessages(change)).filter((m) => m.tag === 'autogenerated:rollgate' && postedText(m).startsWith(`rollgate: ${LABEL} `));
  const readinessMessage = (change: number, vote: '0' | '+1', patchSet: number, timeoutMs = 60_000) =>
    waitFor(
      `a rollgate "${LABEL} ${vote}" message on patch set ${patchSet} of change ${change}`,
      async () => (await readinessMessages(change)).find((m) => m._revision_number === patchSet && postedText(m).startsWith(`rollgate: ${LABEL} ${vote}`)),
      timeoutMs,
    );
  /**
   * rollgate is done with `username`'s vote: the stream event is processed and nothing it queued
   * for the change waits in the outbox. Without this, "posted nothing" could mean "not yet".
   */
  const settledAfterVote = async (change: number, username: string, label: string): Promise<void> => {
    const db = service.database.db;
    await waitFor(`rollgate to process ${username}'s ${label} vote on change ${change}`, async () => {
      const events = await db.selectFrom('events').select(['raw', 'status']).where('type', '=', 'comment-added').execute();
      return events.some((e) => e.status !== 'pending' && isVoteEvent(e.raw, change, username, label));
    }, 60_000);
    await waitFor(`rollgate's outbox to be empty for change ${change}`, async () => {
      const pending = await db.selectFrom('outbox').select('id').where('change_number', '=', change).where('status', '=', 'pending').execute();
      return pending.length === 0;
    }, 60_000);
  };

  it(`votes ${LABEL} 0 with what is missing, +1 once alice (sre) approves, and 0 again on a new patch set; a vote that changes nothing posts nothing`, async () => {
    const { alice, bob } = gerrit.users;
    const change = await gerrit.createChange(bob, {
      message: 'Cache card tokens\n\nRollout-Justification: INC-200 token service overload',
      files: { 'src/tokens.ts': 'export const cached = true;\n' },
    });

    // uploaded: payments-api-prod would hold it (no prod-deployer approval yet)
    const notReady = await readinessMessage(change.number, '0', 1);
    expect(notReady.author?.username).toBe('rollgate');
    expect(missingApprover(notReady)).toContain('1 missing');
    expect(await rollgateVote(change.number)).toBe(0);
    recordMessage('readiness-1-not-ready', notReady);

    // bob's own +2 cannot count (no self-approval): still 0, and the same vote is not posted again
    await gerrit.review(bob, change.number, { labels: { 'Code-Review': 2 } });
    await settledAfterVote(change.number, 'bob', 'Code-Review');
    expect(await rollgateVote(change.number)).toBe(0);
    expect(await readinessMessages(change.number)).toHaveLength(1);

    // alice holds prod-deployer through sre: every matching rule would allow it now
    await gerrit.review(alice, change.number, { labels: { 'Code-Review': 2 } });
    const ready = await readinessMessage(change.number, '+1', 1);
    expect(ready.author?.username).toBe('rollgate');
    expect(await rollgateVote(change.number)).toBe(1);
    expect(await readinessMessages(change.number)).toHaveLength(2);
    recordMessage('readiness-2-ready', ready);

    // a new patch set resets the votes (neither label copies alice's +2 or rollgate's +1 to a
    // rework): rollgate evaluates the new patch set and says it is not ready any more
    const second = await gerrit.uploadPatchSet(bob, change.number, { files: { 'src/tokens.ts': 'export const cached = false;\n' } });
    expect(second.patchSet).toBe(2);
    const notReadyAgain = await readinessMessage(change.number, '0', 2);
    expect(missingApprover(notReadyAgain)).toContain('1 missing');
    expect(await rollgateVote(change.number)).toBe(0);
    expect(await readinessMessages(change.number)).toHaveLength(3);
    recordMessage('readiness-3-new-patch-set', notReadyAgain);
  }, SCENARIO_TIMEOUT_MS);

  it(`applies readiness-label.config as documented: only rollgate-service may vote ${LABEL} 0..+1, votes are not copied, and the README's submit requirement evaluates`, async () => {
    const { admin, alice, bob } = gerrit.users;
    // on a branch no rollout rule matches, so the votes here are only the ones this test casts
    const change = await gerrit.createChange(bob, { branch: 'sandbox', message: 'Try the label', files: { 'notes.txt': 'one\n' } });

    const asAdmin = await labelsAs(admin, change.number);
    const label = isRecord(asAdmin.labels) ? asAdmin.labels[LABEL] : undefined;
    expect(label).toMatchObject({ default_value: 0 });
    expect(Object.keys(isRecord(label) && isRecord(label.values) ? label.values : {}).map((v) => v.trim()).sort()).toEqual(['+1', '0']);
    const permitted = async (user: GerritUser): Promise<string[] | undefined> => {
      const labels = (await labelsAs(user, change.number)).permitted_labels;
      const values = isRecord(labels) ? labels[LABEL] : undefined;
      return Array.isArray(values) ? values.map((v) => String(v).trim()) : undefined;
    };
    expect(await permitted(gerrit.service)).toEqual(['0', '+1']);
    expect(await permitted(alice)).toBeUndefined();
    await expect(gerrit.review(alice, change.number, { labels: { [LABEL]: 1 } })).rejects.toThrow(/-> 403/);

    // the expressions the README and the snippet give an admin, checked by Gerrit itself
    const check = async (submittable: string, applicable?: string): Promise<unknown> => {
      const result = await gerrit.rest(admin, 'POST', `${changePath(change.number)}/check.submit_requirement`, {
        name: LABEL,
        submittability_expression: submittable,
        ...(applicable !== undefined ? { applicability_expression: applicable } : {}),
      });
      return isRecord(result) ? result.status : result;
    };
    const byRollgate = `label:${LABEL}=+1,user=${gerrit.service.username}`;
    expect(await check(byRollgate, `project:${gerrit.project} AND branch:main`)).toBe('NOT_APPLICABLE');
    expect(await check(byRollgate, `project:${gerrit.project} AND branch:sandbox`)).toBe('UNSATISFIED');
    await gerrit.review(gerrit.service, change.number, { labels: { [LABEL]: 1 } });
    expect(await rollgateVote(change.number)).toBe(1);
    expect(await check(byRollgate, `project:${gerrit.project} AND branch:sandbox`)).toBe('SATISFIED');
    expect(await check(`label:${LABEL}=+1`, '-branch:refs/meta/config')).toBe('SATISFIED');
    expect(await check(`label:${LABEL}=+1,user=${alice.username}`)).toBe('UNSATISFIED');

    // no copyCondition: a new patch set starts without rollgate's +1
    await gerrit.uploadPatchSet(bob, change.number, { files: { 'notes.txt': 'two\n' } });
    expect(await rollgateVote(change.number)).toBe(0);
    expect(await check(byRollgate)).toBe('UNSATISFIED');
  }, SCENARIO_TIMEOUT_MS);
});
