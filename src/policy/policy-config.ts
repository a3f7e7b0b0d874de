import { z } from 'zod';
import { duration, name } from '../zod-atoms.js';
import type { WorkflowDefinition } from './workflow-config.js';

/**
 * The shapes of the files users write under `policies/`. Everything is strict: an unknown key is
 * reported (a typo such as `min_approver` must not silently weaken a rule).
 */
export const RolesFileSchema = z.strictObject({
  roles: z.record(
    name,
    z
      .strictObject({
        gerrit_groups: z.array(z.string().min(1)).min(1).optional(),
        /** Group claims from the OIDC provider; they count for operators logged in to rollgate, never for Gerrit votes. */
        idp_groups: z.array(z.string().min(1)).min(1).optional(),
      })
      .refine((r) => r.gerrit_groups !== undefined || r.idp_groups !== undefined, { message: 'a role needs gerrit_groups or idp_groups' }),
  ),
  /** Roles that may read the audit trail over the API; absent means anyone holding any role. */
  audit_readers: z.array(name).min(1).optional(),
});

export const ApprovalGroupSchema = z.strictObject({
  label: z.string().min(1).default('Code-Review'),
  min_value: z.number().int().min(1).default(2),
  roles: z.array(name).min(1),
  min_approvers: z.number().int().min(1).default(1),
  forbid_self_approval: z.boolean().default(true),
  /** How old an approval may be when the rollout starts (`8h`); an older one no longer counts. */
  max_age: duration.optional(),
});

const WindowSchema = z.strictObject({
  cron: z.string().min(1),
  tz: z.string().min(1).default('UTC'),
  reason: z.string().min(1),
});

export const RolloutRuleSchema = z.strictObject({
  name,
  match: z.strictObject({
    project: z.string().min(1),
    branch: z.string().min(1),
    paths: z.array(z.string().min(1)).min(1).optional(),
  }),
  workflow: name,
  environment: name,
  /**
   * One approval group, or a list of groups that must all be met by different people. One group
   * is made a list of one before it is checked (not a union), so a mistake inside it is reported
   * at its own field (`approval.min_approvers`), not as "Invalid input" for all of `approval`.
   */
  approval: z.preprocess((g) => (Array.isArray(g) || g === undefined || g === null ? g : [g]), z.array(ApprovalGroupSchema).min(1)),
  justification: z.enum(['required', 'optional']).default('optional'),
  /** One rollout at a time per environment: `serial` runs every merge in order, `supersede` drops queued older ones. */
  queue: z.enum(['serial', 'supersede']).default('serial'),
  windows: z
    .strictObject({ deny: z.array(WindowSchema).default([]), allow: z.array(WindowSchema).default([]) })
    .optional(),
  /**
   * When windows are checked besides the decision: `start` (when a worker starts the rollout) or
   * `every_step` (also before each step that follows an approval gate or a wait).
   */
  windows_apply: z.enum(['start', 'every_step']).default('start'),
  /** Roles that may approve through a closed window, with a justification. */
  break_glass: z.strictObject({ roles: z.array(name).min(1) }).optional(),
  /**
   * Identity tokens rollgate signs for this rule's steps that ask for one (`credentials.identity`):
   * `audience` is their `aud`, the system that accepts them (a Vault role, an AWS or GCP
   * federation). Set by the rule, not the workflow, so a workflow cannot aim its token elsewhere.
   */
  step_token: z.strictObject({ audience: z.string().min(1) }).optional(),
  /**
   * The audience of the client-credentials tokens this rule's steps get (`credentials.oidc`): with
   * it, a workflow's own `credentials.oidc.audience` must be absent or the same.
   */
  client_credentials: z.strictObject({ audience: z.string().min(1) }).optional(),
});

export const RolloutsFileSchema = z.strictObject({ rollouts: z.array(RolloutRuleSchema) });

export type RolesFile = z.infer<typeof RolesFileSchema>;
export type RolloutRule = z.infer<typeof RolloutRuleSchema>;
export type ApprovalGroup = z.infer<typeof ApprovalGroupSchema>;

/** Everything under `policies/`, checked and cross-referenced. */
export interface Policy {
  /** role name → Gerrit group names or UUIDs whose members hold it */
  readonly roles: Readonly<Record<string, readonly string[]>>;
  /** role name → IdP group claims that give it to an operator logged in through OIDC */
  readonly idpRoles: Readonly<Record<string, readonly string[]>>;
  /** Roles that may read the audit trail; undefined: anyone holding a role. */
  readonly auditReaders: readonly string[] | undefined;
  readonly rollouts: readonly RolloutRule[];
  readonly workflows: Readonly<Record<string, WorkflowDefinition>>;
  /** sha256 over the policy files' names and contents: which policy a decision was made under. */
  readonly version: string;
}
