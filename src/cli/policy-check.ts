import { loadConfig } from '../config.js';
import { PolicyConfigError } from '../errors.js';
import { loadPolicy } from '../load-policy.js';
import { describeGroupRefs } from '../policy/roles.js';

/** `rollgate policy check --json`: one object on stdout, whatever the outcome. */
export type PolicyCheckJson =
  | {
      readonly ok: true;
      readonly dir: string;
      readonly roles: number;
      readonly rollouts: number;
      readonly workflows: number;
      /** How each `gerrit_groups` entry is matched, e.g. `role prod-deployer: sre is a group name`. */
      readonly groupRefs: readonly string[];
    }
  | {
      readonly ok: false;
      readonly dir: string;
      /** `file: path (line N): problem`, as the text output lists them. */
      readonly problems: readonly string[];
    };

/**
 * `rollgate policy check [dir] [--json]`: validates the policy folder. Without `--json` an
 * invalid policy is thrown, and main prints its problems and exits 1.
 */
export function policyCheckCommand(dir: string | undefined, options: { readonly json: boolean }): number {
  const policyDir = dir ?? loadConfig().policyDir;
  if (options.json) {
    const report = checkPolicy(policyDir);
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return report.ok ? 0 : 1;
  }
  const policy = loadPolicy(policyDir);
  process.stdout.write(`${policyDir}: ok (${Object.keys(policy.roles).length} roles, ${policy.rollouts.length} rollout rules, ${Object.keys(policy.workflows).length} workflows)\n`);
  // how each gerrit_groups entry is matched: a UUID only against UUIDs, a name only against names
  for (const line of describeGroupRefs(policy.roles)) process.stdout.write(`  ${line}\n`);
  return 0;
}

function checkPolicy(dir: string): PolicyCheckJson {
  try {
    const policy = loadPolicy(dir);
    return {
      ok: true,
      dir,
      roles: Object.keys(policy.roles).length,
      rollouts: policy.rollouts.length,
      workflows: Object.keys(policy.workflows).length,
      groupRefs: describeGroupRefs(policy.roles),
    };
  } catch (err) {
    if (err instanceof PolicyConfigError) return { ok: false, dir, problems: err.problems };
    throw err;
  }
}
