import { z } from 'zod';
import { parseDuration } from '../execute/duration.js';

/**
 * The shapes of the files users write under `policies/`. Everything is strict: an unknown key is
 * reported (a typo such as `min_approver` must not silently weaken a rule).
 */
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, ".", "_" and "-"');
const duration = z.string().refine((s) => parseDuration(s) !== undefined, 'not a duration (e.g. 30s, 10m, 2h)');

export const RolesFileSchema = z.strictObject({
  roles: z.record(name, z.strictObject({ gerrit_groups: z.array(z.string().min(1)).min(1) })),
});

const notYet = (what: string) =>
  z.unknown().refine(() => false, `${what} is not supported by this version of rollgate`).optional();

export const RolloutRuleSchema = z.strictObject({
  name,
  match: z.strictObject({
    project: z.string().min(1),
    branch: z.string().min(1),
    paths: z.array(z.string().min(1)).min(1).optional(),
  }),
  workflow: name,
  environment: name,
  approval: z.strictObject({
    label: z.string().min(1).default('Code-Review'),
    min_value: z.number().int().min(1).default(2),
    roles: z.array(name).min(1),
    min_approvers: z.number().int().min(1).default(1),
    forbid_self_approval: z.boolean().default(true),
  }),
  justification: z.enum(['required', 'optional']).default('optional'),
  windows: notYet('windows'),
  break_glass: notYet('break_glass'),
});

export const RolloutsFileSchema = z.strictObject({ rollouts: z.array(RolloutRuleSchema) });

const RunStepSchema = z.strictObject({
  id: name,
  needs: z.array(name).default([]),
  run: z.array(z.string()).min(1, 'give the program and its arguments as a list'),
  timeout: duration.default('10m'),
  retry: z.strictObject({ attempts: z.number().int().min(1).max(20), backoff: duration.default('5s') }).optional(),
  http: notYet('http steps'),
  approval: notYet('approval steps'),
  wait: notYet('wait steps'),
});

export const WorkflowFileSchema = z.strictObject({
  name,
  params: z.record(name, z.string()).default({}),
  steps: z.array(RunStepSchema).min(1),
  rollback: z.array(RunStepSchema).default([]),
});

export type RolesFile = z.infer<typeof RolesFileSchema>;
export type RolloutRule = z.infer<typeof RolloutRuleSchema>;
export type WorkflowDefinition = z.infer<typeof WorkflowFileSchema>;
export type RunStepDefinition = z.infer<typeof RunStepSchema>;

/** Everything under `policies/`, checked and cross-referenced. */
export interface Policy {
  /** role name → Gerrit group names or UUIDs whose members hold it */
  readonly roles: Readonly<Record<string, readonly string[]>>;
  readonly rollouts: readonly RolloutRule[];
  readonly workflows: Readonly<Record<string, WorkflowDefinition>>;
}
