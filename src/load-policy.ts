import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { PolicyConfigError } from './errors.js';
import { readYamlFile } from './read-yaml-file.js';
import { checkWorkflow, identityTokenUses, oidcCredentialUses, WorkflowFileSchema, type WorkflowDefinition } from './policy/workflow-config.js';
import { RolesFileSchema, RolloutsFileSchema, type Policy } from './policy/policy-config.js';
import { globProblem } from './policy/match.js';
import { windowProblems } from './policy/windows.js';

/**
 * Reads `roles.yaml`, `rollouts.yaml` and `workflows/*.yaml` from a policy folder. Every problem
 * in every file is collected as `file: path: problem` (with the line where YAML knows it) before
 * failing, so one `rollgate policy check` run shows all that needs fixing.
 */
export function loadPolicy(dir: string): Policy {
  const problems: string[] = [];
  const roles = readYaml(path.join(dir, 'roles.yaml'), RolesFileSchema, problems);
  const rollouts = readYaml(path.join(dir, 'rollouts.yaml'), RolloutsFileSchema, problems);
  const workflows: Record<string, WorkflowDefinition> = {};
  const workflowDir = path.join(dir, 'workflows');
  for (const file of listYaml(workflowDir, problems)) {
    const full = path.join(workflowDir, file);
    const workflow = readYaml(full, WorkflowFileSchema, problems);
    if (!workflow) continue;
    const expected = file.replace(/\.ya?ml$/, '');
    if (workflow.name !== expected) problems.push(`${full}: name: is "${workflow.name}" but the file is ${file}; they must agree`);
    else workflows[workflow.name] = workflow;
    problems.push(...checkWorkflow(full, workflow));
  }
  if (roles) {
    // an approval step inside a workflow names roles too; they must exist like a rule's
    const roleNames = new Set(Object.keys(roles.roles));
    for (const [name, workflow] of Object.entries(workflows)) {
      workflow.steps.forEach((step, i) => {
        step.approval?.roles.forEach((role, j) => {
          if (!roleNames.has(role)) problems.push(`${path.join(workflowDir, `${name}.yaml`)}: steps[${i}].approval.roles[${j}]: no role "${role}" in roles.yaml`);
        });
      });
    }
  }
  if (roles) {
    const roleNames = new Set(Object.keys(roles.roles));
    roles.audit_readers?.forEach((role, j) => {
      if (!roleNames.has(role)) problems.push(`${path.join(dir, 'roles.yaml')}: audit_readers[${j}]: no role "${role}" in roles.yaml`);
    });
  }
  if (roles && rollouts) {
    const roleNames = new Set(Object.keys(roles.roles));
    const seen = new Set<string>();
    rollouts.rollouts.forEach((rule, i) => {
      const at = `${path.join(dir, 'rollouts.yaml')}: rollouts[${i}]`;
      if (seen.has(rule.name)) problems.push(`${at}.name: "${rule.name}" is used by another rule`);
      seen.add(rule.name);
      if (!workflows[rule.workflow] && !problems.some((p) => p.includes(`${rule.workflow}.yaml`))) {
        problems.push(`${at}.workflow: no workflow "${rule.workflow}" in ${workflowDir}`);
      }
      const tokenUses = workflows[rule.workflow] && !rule.step_token ? identityTokenUses(workflows[rule.workflow]!) : [];
      const ruleAudience = rule.client_credentials?.audience;
      const otherAudiences = workflows[rule.workflow] && ruleAudience !== undefined ? oidcCredentialUses(workflows[rule.workflow]!).filter((u) => u.audience !== undefined && u.audience !== ruleAudience) : [];
      if (otherAudiences.length > 0) problems.push(`${at}.client_credentials.audience: "${ruleAudience}", but workflow "${rule.workflow}" asks for ${otherAudiences.map((u) => `"${u.audience}" at ${u.at}`).join(', ')}; leave credentials.oidc.audience out there (the rule's applies)`);
      if (tokenUses.length > 0) problems.push(`${at}.step_token: missing; workflow "${rule.workflow}" asks for an identity token at ${tokenUses.join(', ')}, and its audience comes from the rule (step_token: { audience: … })`);
      rule.approval.forEach((group, g) => {
        const path = rule.approval.length > 1 ? `approval[${g}]` : 'approval';
        group.roles.forEach((role, j) => {
          if (!roleNames.has(role)) problems.push(`${at}.${path}.roles[${j}]: no role "${role}" in roles.yaml`);
        });
      });
      rule.break_glass?.roles.forEach((role, j) => {
        if (!roleNames.has(role)) problems.push(`${at}.break_glass.roles[${j}]: no role "${role}" in roles.yaml`);
      });
      for (const kind of ['deny', 'allow'] as const) {
        rule.windows?.[kind].forEach((w, j) => {
          for (const problem of windowProblems(w)) problems.push(`${at}.windows.${kind}[${j}]: ${problem}`);
        });
      }
      const globs: Array<[string, string]> = [['project', rule.match.project], ['branch', rule.match.branch], ...(rule.match.paths ?? []).map((g, j): [string, string] => [`paths[${j}]`, g])];
      for (const [field, glob] of globs) {
        const problem = globProblem(glob);
        if (problem) problems.push(`${at}.match.${field}: "${glob}": ${problem}`);
      }
    });
  }
  if (problems.length > 0 || !roles || !rollouts) throw new PolicyConfigError(problems);
  return {
    version: policyVersion(dir),
    roles: Object.fromEntries(Object.entries(roles.roles).map(([role, r]) => [role, r.gerrit_groups ?? []])),
    idpRoles: Object.fromEntries(Object.entries(roles.roles).map(([role, r]) => [role, r.idp_groups ?? []])),
    auditReaders: roles.audit_readers,
    rollouts: rollouts.rollouts,
    workflows,
  };
}

function policyVersion(dir: string): string {
  const hash = createHash('sha256');
  const files = ['roles.yaml', 'rollouts.yaml', ...listYaml(path.join(dir, 'workflows'), []).map((f) => path.join('workflows', f))];
  for (const file of files) hash.update(`${file}\0${readFileSync(path.join(dir, file))}\0`);
  return hash.digest('hex');
}

function listYaml(dir: string, problems: string[]): string[] {
  try {
    return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    problems.push(`${dir}: cannot read folder: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return [];
  }
}

function readYaml<T>(file: string, schema: z.ZodType<T>, problems: string[]): T | undefined {
  const result = readYamlFile(file, schema);
  if (result.ok) return result.value;
  problems.push(...result.problems);
  return undefined;
}
