import { describe, expect, it } from 'vitest';
import type { RolloutRow, RolloutStatus, StepRow, StepStatus } from '../../src/db/schema.js';
import type { Policy, RolloutRule } from '../../src/policy/policy-config.js';
import { RolloutRuleSchema } from '../../src/policy/policy-config.js';
import { allowedActions } from '../../src/actions/allowed-actions.js';
import { WorkflowFileSchema } from '../../src/policy/workflow-config.js';

const rule: RolloutRule = RolloutRuleSchema.parse({
  name: 'prod',
  match: { project: 'p', branch: 'main' },
  workflow: 'deploy',
  environment: 'production',
  approval: { roles: ['prod-deployer'] },
  break_glass: { roles: ['release-manager'] },
});
const workflow = (rollback: boolean) =>
  WorkflowFileSchema.parse({
    name: 'deploy',
    steps: [
      { id: 'build', run: ['./build'] },
      { id: 'promote', needs: ['build'], approval: { roles: ['promoter'] } },
    ],
    ...(rollback ? { rollback: [{ id: 'revert', run: ['./revert'] }] } : {}),
  });
const policy = (rollback = true): Policy => ({ roles: {}, idpRoles: {}, auditReaders: undefined, rollouts: [rule], workflows: { deploy: workflow(rollback) }, version: 'v' });
const rollout = (status: RolloutStatus) => ({ id: 1, rule: 'prod', workflow: 'deploy', status }) as RolloutRow;
const steps = (promote: StepStatus): StepRow[] => [{ step_id: 'build', status: 'succeeded' } as StepRow, { step_id: 'promote', status: promote } as StepRow];
const OWNER = 7;
const viewer = (roles: readonly string[], accountId = 1) => ({ account: { accountId, username: 'viewer' }, roles: roles.map((role) => ({ role, via: 'g' })) });
/** The merge decision, whose inputs name the change's owner. */
const decisions = [{ inputs: { owner: { accountId: OWNER, username: 'owner' }, uploader: null } }];

describe('allowedActions', () => {
  it.each([
    ['held', 'pending', ['prod-deployer'], ['approve', 'deny']],
    ['held', 'pending', ['release-manager'], ['approve', 'deny']],
    ['held', 'pending', ['promoter'], []],
    ['held', 'pending', [], []],
    ['queued', 'pending', ['prod-deployer'], ['cancel']],
    ['running', 'pending', ['prod-deployer'], ['cancel']],
    // at an approval gate the gate's roles approve; the gate's or the rule's deny; cancel stays the rule's
    ['waiting', 'waiting', ['promoter'], ['approve', 'deny']],
    ['waiting', 'waiting', ['prod-deployer'], ['deny', 'cancel']],
    ['running', 'waiting', ['promoter', 'prod-deployer'], ['approve', 'deny', 'cancel']],
    ['failed', 'failed', ['prod-deployer'], ['retry', 'rollback']],
    ['rolled_back', 'failed', ['prod-deployer'], ['retry']],
    ['succeeded', 'succeeded', ['prod-deployer'], ['rollback']],
    ['succeeded', 'succeeded', ['promoter'], []],
    ['denied', 'pending', ['prod-deployer'], []],
    ['cancelled', 'pending', ['prod-deployer'], []],
  ] as const)('%s (promote %s) with roles %j: %j', (status, promote, roles, expected) => {
    expect(allowedActions(policy(), rollout(status), steps(promote), viewer(roles), decisions)).toEqual(expected);
  });

  it('offers no rollback when the workflow has nothing to roll back with', () => {
    expect(allowedActions(policy(false), rollout('succeeded'), steps('succeeded'), viewer(['prod-deployer']), decisions)).toEqual([]);
  });

  it('offers nothing for a rule that left the policy', () => {
    expect(allowedActions(policy(), { ...rollout('held'), rule: 'gone' }, steps('pending'), viewer(['prod-deployer']), decisions)).toEqual([]);
  });

  it("does not offer the change's owner an approval that would not count, but lets them stop it", () => {
    expect(allowedActions(policy(), rollout('held'), steps('pending'), viewer(['prod-deployer', 'release-manager'], OWNER), decisions)).toEqual(['deny']);
    expect(allowedActions(policy(), rollout('waiting'), steps('waiting'), viewer(['promoter', 'prod-deployer'], OWNER), decisions)).toEqual(['deny', 'cancel']);
  });

  it('treats a viewer as a possible author when no decision names the owner', () => {
    expect(allowedActions(policy(), rollout('held'), steps('pending'), viewer(['prod-deployer']), [{ inputs: { heldSince: 'x' } }])).toEqual(['deny']);
  });
});
