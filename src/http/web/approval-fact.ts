import { workflowDigest } from '../../actions/approval-binding.js';
import type { RolloutRow } from '../../db/schema.js';
import { storedBinding } from '../../policy/start-check.js';
import type { WorkflowDefinition } from '../../policy/workflow-config.js';
import { html, type Html } from './html.js';

/**
 * The rollout page's "approved for" fact: the digest its decision was given for (revision,
 * workflow, policy) and whether the workflow it would run now is still the one approved; the
 * start checks the policy too, and decides again on any difference.
 */
export function approvalFact(rollout: RolloutRow, workflowNow: WorkflowDefinition | undefined): Html | string {
  const binding = storedBinding(rollout.approval_binding);
  if (!binding) return '';
  const matches = binding.revision === rollout.revision && binding.workflowDigest === workflowDigest(workflowNow);
  return html`<dt>approved for</dt><dd class="approval-digest"><code title="${binding.digest}">${binding.digest.slice(0, 12)}</code> (policy <code title="${binding.policyVersion}">${binding.policyVersion.slice(0, 12)}</code>, decided ${binding.decidedAt}): ${matches ? 'the workflow still matches' : 'the workflow changed since; its start decides again'}</dd>`;
}
