import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type Backend, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startServiceOnDoubles, type ServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { waitFor } from '../helpers/wait-for.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * Workers are woken when work is queued, not found at their next poll: every loop here polls once
 * an hour, so a rollout that runs at all within the test was woken. On PostgreSQL a rollout queued
 * by one process is run by another process's idle worker (LISTEN/NOTIFY).
 */
const HOUR = 3_600_000;
const ROLLOUTS = `rollouts:
  - name: api-prod
    match: { project: payments/api, branch: main }
    workflow: slow
    environment: production
    approval: { label: Code-Review, min_value: 2, roles: [prod-deployer], min_approvers: 1, forbid_self_approval: true }
    justification: optional
  - name: api-staging
    match: { project: payments/api, branch: release }
    workflow: quick
    environment: staging
    approval: { label: Code-Review, min_value: 2, roles: [prod-deployer], min_approvers: 1, forbid_self_approval: true }
    justification: optional
`;
const ROLES = 'roles:\n  prod-deployer: { gerrit_groups: [sre] }\n';
// the slow deploy holds its worker until the test lets it go
const SLOW = `name: slow
steps:
  - id: deploy
    run: ["node", "-e", "const f = require('path').join(process.env.RECORD_DIR, 'release-' + process.env.ROLLGATE_CHANGE_NUMBER); const t = setInterval(() => { if (require('fs').existsSync(f)) clearInterval(t); }, 20);"]
`;
const QUICK = `name: quick
steps:
  - id: deploy
    run: ["./ops/step.mjs", "quick"]
`;

function policyDir(): string {
  const dir = tempDir('rollgate-wake-policy-');
  mkdirSync(path.join(dir, 'workflows'));
  writeFileSync(path.join(dir, 'rollouts.yaml'), ROLLOUTS);
  writeFileSync(path.join(dir, 'roles.yaml'), ROLES);
  writeFileSync(path.join(dir, 'workflows/slow.yaml'), SLOW);
  writeFileSync(path.join(dir, 'workflows/quick.yaml'), QUICK);
  return dir;
}

function suite(backend: Backend, processes: number) {
  const s = { ssh: undefined as unknown as SshGerritDouble, rest: undefined as unknown as RestGerritDouble, database: undefined as unknown as TestDatabase, services: [] as ServiceOnDoubles[], policies: '' };
  beforeAll(async () => {
    s.ssh = await startSshGerritDouble();
    s.rest = await startRestGerritDouble();
    s.rest.addAccount(alice, [GROUPS.sre]);
    s.rest.addAccount(bob, [GROUPS.developers]);
    s.database = await createTestDatabase(backend);
    s.policies = policyDir();
    for (let i = 0; i < processes; i++) {
      // one worker each: a process running the slow deploy has none left for anything else
      s.services.push(await startServiceOnDoubles({ name: `wake-${i}`, database: s.database, rest: s.rest, ssh: s.ssh, env: () => ({ ROLLGATE_POLICY_DIR: s.policies, ROLLGATE_WORKERS: '1' }), overrides: { idleMs: HOUR } }));
    }
  });
  afterAll(async () => {
    for (const { recordDir } of s.services) for (const n of [601, 602, 611]) writeFileSync(path.join(recordDir, `release-${n}`), '');
    for (const { service } of s.services) await service.stop();
    await s.database?.drop();
    await s.ssh?.close();
    await s.rest?.close();
    rmSync(s.policies, { recursive: true, force: true });
  });
  return s;
}

const merge = (s: ReturnType<typeof suite>, number: number, branch: string) => {
  const change = mergedChange(number, bob, { branch, votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
  s.rest.setChange(change);
  s.ssh.push(changeMergedEvent(change));
};
const statusOf = async (s: ReturnType<typeof suite>, number: number) =>
  (await s.services[0]!.service.database.db.selectFrom('rollouts').select('status').where('change_number', '=', number).executeTakeFirst())?.status;

describe.each(BACKENDS)('%s: a queued rollout wakes an idle worker', (backend) => {
  const s = suite(backend, 1);

  it('runs a merge at once although the workers poll only once an hour', async () => {
    merge(s, 611, 'release');
    await waitFor('the staging rollout to succeed', async () => (await statusOf(s, 611)) === 'succeeded', 20_000);
  });
});

describe.each(BACKENDS.filter((b) => b === 'postgres'))('%s: several processes on one database', (backend) => {
  const s = suite(backend, 2);

  it('a rollout queued while one process is busy is run by the other process, woken by NOTIFY', async () => {
    merge(s, 601, 'main');
    await waitFor('the slow production deploy to run', async () => (await statusOf(s, 601)) === 'running', 20_000);
    // one process's only worker is held by the slow deploy; the other's sleeps for an hour unless told
    merge(s, 602, 'release');
    await waitFor('the staging rollout to succeed', async () => (await statusOf(s, 602)) === 'succeeded', 20_000);
    const ran = await s.services[0]!.service.database.db.selectFrom('rollouts').select(['change_number', 'claimed_by']).where('change_number', 'in', [601, 602]).orderBy('change_number').execute();
    // claimed by different processes (workers are named after their process)
    expect(new Set(ran.map((r) => r.claimed_by?.split('-')[1])).size).toBe(2);
    expect(await statusOf(s, 601)).toBe('running');
  });
});
