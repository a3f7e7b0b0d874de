import { describe, expect, it } from 'vitest';
import { evaluateChange } from '../../src/policy/evaluate-change.js';
import { RolloutRuleSchema, type Policy } from '../../src/policy/policy-config.js';
import type { RoleGrant } from '../../src/policy/roles.js';
import type { GerritChange } from '../../src/gerrit/gerrit-client.js';
import { finishedMessage, holdMessage, MAX_MESSAGE_BYTES, startedMessage, type RolloutSummary, type StepSummary } from '../../src/messages/format-message.js';

const summary: RolloutSummary = {
  id: 7,
  rule: 'api-prod',
  environment: 'production',
  workflow: 'deploy-service',
  reasons: [
    { code: 'self-approval', message: "bob's Code-Review +2 does not count: bob owns the change (no self-approval)" },
    { code: 'not-enough-approvers', message: 'rule api-prod needs 1 approver …; 0 found, 1 missing.' },
  ],
  approvers: [{ accountId: 1, display: 'alice', value: 2, via: 'Code-Review +2', roles: ['prod-deployer'], groups: ['sre'] }],
  justification: 'INC-9',
  link: 'https://rollgate.example/api/rollouts/7',
};

/** A weekend freeze only a release manager may break; alice (sre) approved bob's change, whose footer says INC-9. */
const SATURDAY = new Date('2026-11-28T14:00:00Z');
const fixturePolicy = (): Policy => ({
  version: 'v',
  roles: { 'prod-deployer': ['sre'], 'release-manager': ['release-managers'] },
  idpRoles: {},
  auditReaders: undefined,
  workflows: {},
  rollouts: [
    RolloutRuleSchema.parse({
      name: 'frozen-prod',
      match: { project: 'payments/api', branch: 'main' },
      workflow: 'deploy-service',
      environment: 'production',
      approval: { roles: ['prod-deployer'] },
      windows: { deny: [{ cron: '* * * * 6,0', reason: 'weekend freeze' }] },
      break_glass: { roles: ['release-manager'] },
    }),
  ],
});
const frozenChange: GerritChange = {
  project: 'payments/api',
  branch: 'main',
  number: 5,
  subject: 's',
  status: 'MERGED',
  owner: { accountId: 2, username: 'bob' },
  uploader: undefined,
  currentRevision: 'a'.repeat(40),
  currentPatchSet: 1,
  commitMessage: 'Fix\n\nRollout-Justification: INC-9\n',
  files: [],
  votes: { 'Code-Review': [{ account: { accountId: 1, username: 'alice' }, value: 2 }] },
};
const frozenRoles = new Map<number, readonly RoleGrant[]>([
  [1, [{ role: 'prod-deployer', via: 'sre' }]],
  [3, [{ role: 'release-manager', via: 'release-managers' }]],
]);

const step = (stepId: string, status: string, extra: Partial<StepSummary> = {}): StepSummary => ({
  stepId,
  status,
  attempts: 1,
  exitCode: 0,
  durationMs: 1234,
  outputTail: null,
  error: null,
  ...extra,
});

describe('review messages', () => {
  it('a hold says what is missing apart from what was checked', () => {
    expect(holdMessage(summary)).toBe(
      [
        'rollgate: rollout "api-prod" to production is ON HOLD (rollout #7).',
        'What is missing:\n* rule api-prod needs 1 approver …; 0 found, 1 missing.',
        "What was checked:\n* bob's Code-Review +2 does not count: bob owns the change (no self-approval)",
        'Details: https://rollgate.example/api/rollouts/7',
      ].join('\n\n'),
    );
  });

  it('a hold in a closed window puts the window under what is missing, with when it opens and who may override it', () => {
    const [frozen] = evaluateChange({ policy: fixturePolicy(), change: frozenChange, rolesByAccount: frozenRoles, at: SATURDAY });
    const m = holdMessage({ ...summary, reasons: frozen!.result.reasons, approvers: frozen!.result.approvers });
    expect(m).toBe(
      [
        'rollgate: rollout "api-prod" to production is ON HOLD (rollout #7).',
        'What is missing:\n* rule frozen-prod is in a closed window now: weekend freeze. A person with role release-manager can override it with "/rollout approve <justification>"; ' +
          'otherwise comment "/rollout approve <justification>" once the window opens (it opens Mon 2026-11-30 00:00 UTC). Role release-manager is given by Gerrit group `release-managers`.',
        'What was checked:\n* alice (prod-deployer via sre) approved with Code-Review +2\n* justification: INC-9',
        'Details: https://rollgate.example/api/rollouts/7',
      ].join('\n\n'),
    );
  });

  it('a start after break glass says the freeze was overridden, by whom, and why in their own words', () => {
    const approvals = [{ account: { accountId: 3, username: 'rita' }, justification: 'INC-77 customers charged twice' }];
    const [broken] = evaluateChange({ policy: fixturePolicy(), change: frozenChange, rolesByAccount: frozenRoles, commentApprovals: approvals, at: SATURDAY });
    expect(broken!.result.outcome).toBe('allow');
    const m = startedMessage({ ...summary, reasons: broken!.result.reasons, approvers: broken!.result.approvers, justification: broken!.result.justification ?? null }, ['build', 'deploy']);
    expect(m).toContain('Closed window overridden (break glass): weekend freeze; by rita (release-manager via release-managers), because: INC-77 customers charged twice');
    // the footer stays the rollout's justification, but it is not the why of the override
    expect(m).toContain('Justification: INC-9');
  });

  it('a start names approvers, roles, justification and the plan', () => {
    const m = startedMessage(summary, ['build', 'deploy']);
    expect(m).toContain('* alice (prod-deployer via sre) approved with Code-Review +2');
    expect(m).toContain('Justification: INC-9');
    expect(m).toContain('Steps: build -> deploy');
  });

  it('a finish lists every step with exit code, duration and attempts, and failed output', () => {
    const m = finishedMessage(summary, false, 65_000, [
      step('build', 'succeeded'),
      step('deploy', 'failed', { exitCode: 3, attempts: 2, outputTail: 'connecting\nerror: quota exceeded\n', error: 'exit code 3' }),
      step('verify', 'skipped', { exitCode: null, durationMs: null }),
    ]);
    expect(m).toContain('FAILED in 1m 05s');
    expect(m).toContain('* build: succeeded (exit 0, 1.2s)');
    expect(m).toContain('* deploy: failed (exit 3, 1.2s, 2 attempts)');
    expect(m).toContain('* verify: skipped');
    expect(m).toContain('Output of deploy (last lines):\n  exit code 3\n  connecting\n  error: quota exceeded');
  });

  it('stays under Gerrit\'s 16 KiB limit whatever the output, keeping every step line', () => {
    const huge = 'é'.repeat(50_000);
    const steps = Array.from({ length: 40 }, (_, i) => step(`step-${i}`, 'failed', { exitCode: 1, outputTail: huge }));
    const m = finishedMessage(summary, false, 1000, steps);
    expect(Buffer.byteLength(m)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    for (let i = 0; i < 40; i++) expect(m).toContain(`* step-${i}: failed`);
    expect(m).not.toContain('\uFFFD');
  });

  it('cuts even a pathological message to the limit with a note', () => {
    const m = holdMessage({ ...summary, reasons: Array.from({ length: 2000 }, (_, i) => ({ code: 'missing-role' as const, message: `reason number ${i} that is rather long` })) });
    expect(Buffer.byteLength(m)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(m.endsWith("[message cut to fit Gerrit's size limit; see rollgate for the rest]")).toBe(true);
  });
});
