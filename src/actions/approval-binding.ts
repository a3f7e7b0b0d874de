import { createHash } from 'node:crypto';
import type { ApprovalBinding } from '../policy/start-check.js';
import type { Policy, RolloutRule } from '../policy/policy-config.js';
import type { WorkflowDefinition } from '../policy/workflow-config.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A workflow definition's digest, as parsed (formatting and comments do not count); a missing one has its own. */
export function workflowDigest(workflow: WorkflowDefinition | undefined): string {
  return sha256(JSON.stringify(workflow ?? null));
}

/**
 * What a decision for `rule` on `revision` is given for under `policy`: the revision, a digest of
 * the rule's workflow definition (as parsed, so formatting and comments do not count), the policy
 * version, and a digest of the three. Stored with the rollout; the start compares it.
 */
export function approvalBinding(policy: Policy, rule: RolloutRule, revision: string, decidedAt: Date): ApprovalBinding {
  const workflow = workflowDigest(policy.workflows[rule.workflow]);
  return {
    revision,
    workflowDigest: workflow,
    policyVersion: policy.version,
    digest: sha256(`${revision}\n${workflow}\n${policy.version}`),
    decidedAt: decidedAt.toISOString(),
  };
}
