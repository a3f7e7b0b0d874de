import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../src/service/service.js';
import { withoutAuditHead } from '../helpers/audit-head.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, commentAddedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type DoubleAccount, type DoubleChange, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * A decision is checked again when the rollout starts, through `serve` on the Gerrit doubles. A
 * rollout of `ops/blocker` waits at an approval gate and keeps the production environment; the
 * rollout under test is allowed at its merge and queued behind it; something changes while it
 * waits (the clock enters a freeze, alice leaves `sre`, the policy asks for more, the approval
 * ages); then dave passes the blocker's gate and the queued rollout comes up for its start.
 */

const dave: DoubleAccount = { _account_id: 1000004, username: 'dave', name: 'Dave SRE', email: 'dave@example.com' };
const FIXTURES = path.resolve('test/fixtures');

const ROLES = 'roles:\n  prod-deployer: { gerrit_groups: [sre] }\n';
const rules = (apiApprovers: number, webWorkflow = 'deploy-service') => `rollouts:
  - name: blocker
    match: { project: ops/blocker, branch: main }
    workflow: gated
    environment: production
    approval: { roles: [prod-deployer] }
  - name: payments-api-prod
    match: { project: payments/api, branch: main }
    workflow: deploy-service
    environment: production
    approval: { roles: [prod-deployer], min_approvers: ${apiApprovers} }
    justification: required
    windows:
      deny: [{ cron: "* * 29 2 *", tz: UTC, reason: leap-day freeze }]
  - name: payments-web-prod
    match: { project: payments/web, branch: main }
    workflow: ${webWorkflow}
    environment: production
    approval: { roles: [prod-deployer], max_age: 1h }
  - name: payments-batch-staging
    match: { project: payments/batch, branch: main }
    workflow: gated-deploy
    environment: staging
    approval: { roles: [prod-deployer] }
    windows_apply: every_step
    windows:
      deny: [{ cron: "* * 29 2 *", tz: UTC, reason: leap-day freeze }]
  - name: payments-jobs-qa
    match: { project: payments/jobs, branch: main }
    workflow: gated-aged
    environment: qa
    approval: { roles: [prod-deployer] }
    windows_apply: every_step
    windows:
      deny: [{ cron: "* * 29 2 *", tz: UTC, reason: leap-day freeze }]
`;
const GATED = 'name: gated\nsteps:\n  - id: hold-environment\n    approval: { roles: [prod-deployer], timeout: 1h }\n';
/** A gate, then a deploy step; `gateExtra` adds to the gate's approval (a max_age). */
const gatedDeploy = (name: string, gateExtra = '') => `name: ${name}
steps:
  - id: promote
    approval: { roles: [prod-deployer], timeout: 1h${gateExtra} }
  - id: deploy
    needs: [promote]
    run: ["./ops/record.mjs", "deploy", "\${rollout.environment}", "\${change.number}"]
`;

/** Inside the rule's freeze (a leap day), and two hours from now (past approval.max_age 1h). */
const LEAP_DAY = new Date('2028-02-29T12:00:00Z');

describe.each(BACKENDS)('%s: the decision is checked again when the rollout starts', (backend) => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let service: RunningService;
  let policies: string;
  /** What the start check and the window release read as now; undefined: the real clock. */
  let clockAt: Date | undefined;

  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    rest.addAccount(dave, [GROUPS.sre]);
    database = await createTestDatabase(backend);
    ({ service } = await startServiceOnDoubles({
      name: 'start-check',
      database,
      rest,
      ssh,
      env: ({ tmp }) => {
        policies = path.join(tmp, 'policies');
        mkdirSync(path.join(policies, 'workflows'), { recursive: true });
        writeFileSync(path.join(policies, 'roles.yaml'), ROLES);
        writeFileSync(path.join(policies, 'rollouts.yaml'), rules(1));
        writeFileSync(path.join(policies, 'workflows/gated.yaml'), GATED);
        writeFileSync(path.join(policies, 'workflows/gated-deploy.yaml'), gatedDeploy('gated-deploy'));
        writeFileSync(path.join(policies, 'workflows/gated-aged.yaml'), gatedDeploy('gated-aged', ', max_age: 1h'));
        writeFileSync(path.join(policies, 'workflows/ship-it.yaml'), 'name: ship-it\nsteps:\n  - id: ship\n    run: ["./ops/record.mjs", "ship", "${change.number}"]\n');
        copyFileSync(path.join(FIXTURES, 'policies/workflows/deploy-service.yaml'), path.join(policies, 'workflows/deploy-service.yaml'));
        return { ROLLGATE_POLICY_DIR: policies };
      },
      overrides: { clock: () => clockAt ?? new Date() },
    }));
  });

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await ssh?.close();
    await rest?.close();
  });

  const db = () => service.database.db;
  const reviewsOf = (change: number) => rest.reviews.filter((r) => r.changeNumber === change).map((r) => withoutAuditHead(r.message));
  const rolloutOf = (change: number) => db().selectFrom('rollouts').selectAll().where('change_number', '=', change).executeTakeFirstOrThrow();
  const statusIs = (change: number, status: string) => waitFor(`change ${change}'s rollout ${status}`, async () => ((await rolloutOf(change)).status === status ? true : undefined), 30_000);
  const decisionsOf = (change: number) => db().selectFrom('decisions').select(['trigger', 'outcome']).where('change_number', '=', change).orderBy('id').execute();

  /** A rollout of ops/blocker waiting at its gate: production is busy until dave passes it. */
  async function blockProduction(number: number): Promise<DoubleChange> {
    const blocker = mergedChange(number, bob, { project: 'ops/blocker', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    rest.setChange(blocker);
    ssh.push(changeMergedEvent(blocker));
    await waitFor('the blocker at its gate', () => reviewsOf(number).find((m) => m.includes('WAITING FOR APPROVAL')));
    return blocker;
  }

  /** A change alice approved, allowed at its merge and queued behind the blocker. */
  async function queueBehind(number: number, project: string): Promise<DoubleChange> {
    const change = mergedChange(number, bob, { project, commitMessage: `Change ${number}\n\nRollout-Justification: INC-${number}\n`, votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    await statusIs(number, 'queued');
    return change;
  }

  const passGate = (blocker: DoubleChange) => ssh.push(commentAddedEvent(blocker, dave, '/rollout approve go on'));
  const refusal = (number: number) => waitFor(`change ${number}'s refused start`, () => reviewsOf(number).find((m) => m.includes('did NOT START')), 30_000);

  it('a freeze that began while it was queued holds it with the message; it goes once the window opens', async () => {
    const blocker = await blockProduction(1601);
    await queueBehind(1602, 'payments/api');
    clockAt = LEAP_DAY;
    passGate(blocker);
    const message = await refusal(1602);
    const { id } = await rolloutOf(1602);
    expect(message).toContain(`rollgate: rollout "payments-api-prod" to production did NOT START: its decision no longer holds, so it is ON HOLD again (rollout #${id}). No step ran.`);
    expect(message).toContain('What changed since it was decided:\n* the window is now closed: leap-day freeze');
    expect(message).toContain('rule payments-api-prod is in a closed window now: leap-day freeze.');
    const held = await rolloutOf(1602);
    expect({ status: held.status, decision: held.decision, started_at: held.started_at }).toEqual({ status: 'held', decision: 'hold', started_at: null });
    expect((await db().selectFrom('rollout_steps').select('status').where('rollout_id', '=', id).execute()).map((s) => s.status)).toEqual(['pending', 'pending']);
    expect(await decisionsOf(1602)).toEqual([
      { trigger: 'merge', outcome: 'allow' },
      { trigger: 'start', outcome: 'hold' },
    ]);
    const audit = await db().selectFrom('audit_log').select(['kind', 'summary']).where('rollout_id', '=', id).where('kind', '=', 'decision').orderBy('id').execute();
    expect(audit.map((a) => a.summary)).toEqual([
      'allow payments/api~1602 under rule payments-api-prod (merge): alice (prod-deployer via sre) approved with Code-Review +2',
      'hold payments/api~1602 under rule payments-api-prod (start): the window is now closed: leap-day freeze',
    ]);

    // the window opens (the clock leaves the leap day): released without anyone approving again
    clockAt = undefined;
    await waitFor('the started message', () => reviewsOf(1602).find((m) => m.includes('STARTED')), 30_000);
    await statusIs(1602, 'succeeded');
    expect(await decisionsOf(1602)).toEqual([
      { trigger: 'merge', outcome: 'allow' },
      { trigger: 'start', outcome: 'hold' },
      { trigger: 'window', outcome: 'allow' },
    ]);
  });

  it('an approver who left the Gerrit group no longer counts: held, and a new approval starts it', async () => {
    const blocker = await blockProduction(1611);
    const change = await queueBehind(1612, 'payments/api');
    rest.addAccount(alice, []); // removed from sre in Gerrit
    passGate(blocker);
    const message = await refusal(1612);
    expect(message).toContain('What changed since it was decided:\n* alice no longer has prod-deployer (had it via sre when the rollout was decided)');
    expect(message).toContain("alice's Code-Review +2 does not count: alice holds no role; needs one of prod-deployer");
    await statusIs(1612, 'held');
    expect(await decisionsOf(1612)).toEqual([
      { trigger: 'merge', outcome: 'allow' },
      { trigger: 'start', outcome: 'hold' },
    ]);

    // released the way any hold is: someone who counts approves
    rest.addAccount(alice, [GROUPS.sre]);
    ssh.push(commentAddedEvent(change, dave, '/rollout approve dave checked it'));
    await statusIs(1612, 'succeeded');
    expect((await decisionsOf(1612)).map((d) => `${d.trigger}:${d.outcome}`)).toEqual(['merge:allow', 'start:hold', 'comment:allow']);
  });

  it('a policy changed while it was queued decides it again: held under the new policy, saying which', async () => {
    const blocker = await blockProduction(1621);
    await queueBehind(1622, 'payments/api');
    const before = service.policy.version;
    writeFileSync(path.join(policies, 'rollouts.yaml'), rules(2));
    expect((await service.reloadPolicy()).ok).toBe(true);
    const after = service.policy.version;
    try {
      passGate(blocker);
      const message = await refusal(1622);
      expect(message).toContain(`* policy changed from ${before.slice(0, 12)} to ${after.slice(0, 12)}`);
      expect(message).toContain('rule payments-api-prod needs 2 approvers with Code-Review +2 and role prod-deployer');
      await statusIs(1622, 'held');
      const binding = (await rolloutOf(1622)).approval_binding as { policyVersion: string };
      expect(binding.policyVersion).toBe(after);
      const rows = await db().selectFrom('decisions').select(['trigger', 'outcome', 'policy_version']).where('change_number', '=', 1622).orderBy('id').execute();
      expect(rows).toEqual([
        { trigger: 'merge', outcome: 'allow', policy_version: before },
        { trigger: 'start', outcome: 'hold', policy_version: after },
      ]);
    } finally {
      writeFileSync(path.join(policies, 'rollouts.yaml'), rules(1));
      await service.reloadPolicy();
    }
  });

  it('a workflow changed while it was queued: the start is a new decision, still allowed, and runs the workflow as it is now', async () => {
    const blocker = await blockProduction(1661);
    await queueBehind(1662, 'payments/web');
    const workflowFile = path.join(policies, 'workflows/deploy-service.yaml');
    const before = readFileSync(workflowFile, 'utf8');
    // a step added before the rollback section
    writeFileSync(workflowFile, before.replace('\nrollback:\n', '\n  - id: announce\n    needs: [deploy]\n    run: ["./ops/record.mjs", "announce", "${change.number}"]\nrollback:\n'));
    expect((await service.reloadPolicy()).ok).toBe(true);
    try {
      passGate(blocker);
      const startedMessage = await waitFor('the started message', () => reviewsOf(1662).find((m) => m.includes('STARTED')), 30_000);
      await statusIs(1662, 'succeeded');
      expect(reviewsOf(1662).some((m) => m.includes('did NOT START'))).toBe(false);
      expect(startedMessage).toContain('Steps: build -> deploy -> announce');
      expect((await decisionsOf(1662)).map((d) => `${d.trigger}:${d.outcome}`)).toEqual(['merge:allow', 'start:allow']);
      const [, atStart] = await db().selectFrom('decisions').select('reasons').where('change_number', '=', 1662).orderBy('id').execute();
      expect((atStart!.reasons as Array<{ code: string; message: string }>).filter((r) => r.code === 'changed-since-decision').map((r) => r.message)).toEqual([
        expect.stringMatching(/^policy changed from [0-9a-f]{12} to [0-9a-f]{12}$/),
        expect.stringMatching(/^workflow deploy-service changed since the decision \(definition [0-9a-f]{12} to [0-9a-f]{12}\)$/),
      ]);
    } finally {
      writeFileSync(workflowFile, before);
      await service.reloadPolicy();
    }
  });

  it('a rule pointed at another workflow while it was queued: the start runs that workflow, and the old plan is skipped', async () => {
    const blocker = await blockProduction(1671);
    await queueBehind(1672, 'payments/web');
    writeFileSync(path.join(policies, 'rollouts.yaml'), rules(1, 'ship-it'));
    expect((await service.reloadPolicy()).ok).toBe(true);
    try {
      passGate(blocker);
      const startedMessage = await waitFor('the started message', () => reviewsOf(1672).find((m) => m.includes('STARTED')), 30_000);
      expect(startedMessage).toContain('workflow ship-it).');
      expect(startedMessage).toContain('Steps: ship');
      await statusIs(1672, 'succeeded');
      const { id, workflow } = await rolloutOf(1672);
      expect(workflow).toBe('ship-it');
      const steps = await db().selectFrom('rollout_steps').select(['step_id', 'status', 'note']).where('rollout_id', '=', id).orderBy('position').execute();
      expect(steps).toEqual([
        { step_id: 'build', status: 'skipped', note: 'not in workflow ship-it, which the rule runs now' },
        { step_id: 'deploy', status: 'skipped', note: 'not in workflow ship-it, which the rule runs now' },
        { step_id: 'ship', status: 'succeeded', note: null },
      ]);
      const [, atStart] = await db().selectFrom('decisions').select(['trigger', 'reasons']).where('change_number', '=', 1672).orderBy('id').execute();
      expect(atStart!.trigger).toBe('start');
      expect((atStart!.reasons as Array<{ message: string }>).map((r) => r.message)).toContain('rule payments-web-prod now runs workflow ship-it instead of deploy-service');
    } finally {
      writeFileSync(path.join(policies, 'rollouts.yaml'), rules(1));
      await service.reloadPolicy();
    }
  });

  it('windows_apply: every_step holds the step after an approval gate while a window is closed, and runs it once it opens', async () => {
    const change = mergedChange(1641, bob, { project: 'payments/batch', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    await waitFor('the gate message', () => reviewsOf(1641).find((m) => m.includes('WAITING FOR APPROVAL')));
    clockAt = LEAP_DAY;
    try {
      ssh.push(commentAddedEvent(change, dave, '/rollout approve promote it'));
      const waiting = await waitFor('the window message', () => reviewsOf(1641).find((m) => m.includes('WAITING FOR A WINDOW')), 30_000);
      const { id } = await rolloutOf(1641);
      expect(waiting).toContain(`rollgate: rollout "payments-batch-staging" to staging is WAITING FOR A WINDOW before step deploy (rollout #${id}).`);
      expect(waiting).toContain('The window is closed: leap-day freeze.');
      const steps = async () => Object.fromEntries((await db().selectFrom('rollout_steps').select(['step_id', 'status']).where('rollout_id', '=', id).execute()).map((r) => [r.step_id, r.status]));
      await waitFor('the gate passed', async () => ((await steps()).promote === 'succeeded' ? true : undefined));
      await new Promise((r) => setTimeout(r, 1500)); // a few polls of the runner: the step stays put
      expect(await steps()).toEqual({ promote: 'succeeded', deploy: 'pending' });
      expect(reviewsOf(1641).filter((m) => m.includes('WAITING FOR A WINDOW'))).toHaveLength(1);
    } finally {
      clockAt = undefined;
    }
    await statusIs(1641, 'succeeded');
    expect(await waitFor('the finish message', () => reviewsOf(1641).find((m) => m.includes('SUCCEEDED')))).toMatch(/\* deploy: succeeded/);
  });

  it('a gate approval older than the gate\'s max_age before the next step starts is asked for again', async () => {
    const change = mergedChange(1651, bob, { project: 'payments/jobs', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    await waitFor('the gate message', () => reviewsOf(1651).find((m) => m.includes('WAITING FOR APPROVAL at step promote')));
    // the freeze holds the deploy step past the gate's max_age (the clock is on the leap day)
    clockAt = LEAP_DAY;
    try {
      ssh.push(commentAddedEvent(change, dave, '/rollout approve promote it'));
      const again = await waitFor('the gate asked again', () => reviewsOf(1651).find((m) => m.includes('WAITING FOR APPROVAL AGAIN')), 30_000);
      expect(again).toContain('at step promote');
      expect(again).toContain('The approval given at this gate is older than its max_age 1h, and the next step had not started: it no longer counts.');
      await statusIs(1651, 'waiting');
      const { id } = await rolloutOf(1651);
      const promote = await db().selectFrom('rollout_steps').select(['status', 'note']).where('rollout_id', '=', id).where('step_id', '=', 'promote').executeTakeFirstOrThrow();
      expect(promote).toEqual({ status: 'waiting', note: 'the approval is older than max_age 1h: waiting again for approval by prod-deployer' });
    } finally {
      clockAt = undefined;
    }
    // a fresh approval, with the window open: the step runs
    ssh.push(commentAddedEvent(change, dave, '/rollout approve still fine'));
    await statusIs(1651, 'succeeded');
  });

  it('an approval older than approval.max_age when it starts no longer counts: held', async () => {
    const blocker = await blockProduction(1631);
    await queueBehind(1632, 'payments/web');
    clockAt = new Date(Date.now() + 2 * 3_600_000);
    try {
      passGate(blocker);
      const message = await refusal(1632);
      expect(message).toMatch(/\* alice's Code-Review \+2 is older than approval\.max_age 1h \(counted since \d{4}-\d\d-\d\dT[\d:.]+Z\): it no longer counts/);
      expect(message).toContain('What is missing:\n* rule payments-web-prod needs 1 approver');
      await statusIs(1632, 'held');
    } finally {
      clockAt = undefined;
    }
    expect((await decisionsOf(1632)).map((d) => `${d.trigger}:${d.outcome}`)).toEqual(['merge:allow', 'start:hold']);
  });
});
