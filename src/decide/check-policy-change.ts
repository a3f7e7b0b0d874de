import type { GerritChange } from '../gerrit/gerrit-client.js';
import { policyCheckPassed } from '../messages/format-message.js';
import type { DecideDeps, PolicyChecks } from './decide-deps.js';

/**
 * A new patch set of an open change to the policy project: rollgate runs `policy check` and
 * `policy test` on it as it would load it if merged, and says what it found on the patch set
 * (with a vote, where a label is set), so a broken policy is caught in review. `change` is as
 * Gerrit REST shows it now.
 */
export async function checkPolicyChange(d: DecideDeps, checks: PolicyChecks, change: GerritChange): Promise<string> {
  if (change.status !== 'NEW') return 'policy check: the change is not open';
  const ref = `refs/changes/${String(change.number % 100).padStart(2, '0')}/${change.number}/${change.currentPatchSet}`;
  const report = await checks.check(ref);
  await d.messages.policyCheck(change, report.commit, report, checks.label);
  d.onReport();
  return `policy check of patch set ${change.currentPatchSet}: ${policyCheckPassed(report) ? 'passed' : 'failed'}`;
}
