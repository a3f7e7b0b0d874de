import { describe, expect, it } from 'vitest';
import { approvalBinding } from '../../src/actions/approval-binding.js';
import type { RolloutRow } from '../../src/db/schema.js';
import { approvalFact } from '../../src/http/web/approval-fact.js';
import { RolloutRuleSchema, type Policy } from '../../src/policy/policy-config.js';
import { WorkflowFileSchema } from '../../src/policy/workflow-config.js';

/** The rollout page's "approved for" line: the digest of what was approved and whether the workflow in use is still that one. */

const workflow = WorkflowFileSchema.parse({ name: 'deploy-service', steps: [{ id: 'build', run: ['./build'] }] });
const changed = WorkflowFileSchema.parse({ name: 'deploy-service', steps: [{ id: 'build', run: ['./build', '--fast'] }] });
const rule = RolloutRuleSchema.parse({ name: 'api-prod', match: { project: 'payments/api', branch: 'main' }, workflow: 'deploy-service', environment: 'production', approval: { roles: ['prod-deployer'] } });
const policy: Policy = { roles: {}, idpRoles: {}, auditReaders: undefined, rollouts: [rule], workflows: { 'deploy-service': workflow }, version: 'a'.repeat(64) };
const revision = 'c'.repeat(40);
const binding = approvalBinding(policy, rule, revision, new Date('2026-11-24T09:00:00Z'));
const row = (approvalBinding: unknown) => ({ revision, approval_binding: approvalBinding }) as Pick<RolloutRow, 'revision' | 'approval_binding'> as RolloutRow;

describe('approvalFact', () => {
  it('shows the digest, the policy and that the workflow still matches', () => {
    expect(approvalFact(row(binding), workflow).toString()).toBe(
      `<dt>approved for</dt><dd class="approval-digest"><code title="${binding.digest}">${binding.digest.slice(0, 12)}</code> (policy <code title="${'a'.repeat(64)}">aaaaaaaaaaaa</code>, decided 2026-11-24T09:00:00.000Z): the workflow still matches</dd>`,
    );
  });

  it('says so when the workflow in use is another than the one approved', () => {
    expect(approvalFact(row(binding), changed).toString()).toContain(': the workflow changed since; its start decides again</dd>');
    expect(approvalFact(row(binding), undefined).toString()).toContain('the workflow changed since');
  });

  it('shows nothing for a rollout decided before digests were kept', () => {
    expect(approvalFact(row(null), workflow).toString()).toBe('');
  });
});
