import { z } from 'zod';
import { duration, name } from '../zod-atoms.js';
import { isKnownVariable, referencedNames } from './interpolate.js';

/**
 * The shape of `policies/workflows/<name>.yaml`: a DAG of steps. Checked structurally by zod,
 * then for the graph (unknown needs, cycles) and variables by `checkWorkflow`.
 *
 * A step does exactly one thing: `run` a program (argv, no shell), make an `http` call, wait at
 * an `approval` gate, or `wait` a while.
 */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');

const RetrySchema = z.strictObject({
  attempts: z.number().int().min(1).max(20),
  /** First delay; doubled after each failed attempt, with jitter, up to `max_backoff`. */
  backoff: duration.default('5s'),
  max_backoff: duration.default('5m'),
});

const HttpSchema = z.strictObject({
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('POST'),
  url: z.string().min(1),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name'), z.string()).default({}),
  /** Sent as the JSON body; `${…}` is substituted only inside string values. */
  json: z.unknown().optional(),
  /** Statuses that count as success (default: any 2xx). */
  expect: z.array(z.number().int().min(100).max(599)).min(1).optional(),
});

const ApprovalSchema = z.strictObject({
  roles: z.array(name).min(1),
  timeout: duration.default('24h'),
  /** How old the gate's approval may be when the step after it starts (`1h`); an older one is asked for again. */
  max_age: duration.optional(),
});

/**
 * A token the step gets from rollgate's OpenID provider (client-credentials grant) just before
 * it runs, in its environment; never stored, logged or shown (its output is redacted).
 */
const CredentialsSchema = z
  .strictObject({
    oidc: z
      .strictObject({
        /** The API the token is for (sent as `audience`, and as `resource` when it is a URI). */
        audience: z.string().min(1).optional(),
        scope: z.string().min(1).optional(),
        /** The variable that holds the token. */
        env: envName.default('ROLLGATE_OIDC_TOKEN'),
      })
      .optional(),
    /**
     * An identity token rollgate signs for this attempt (its audience comes from the rule's
     * `step_token`), in a file only the step can read; `file_env` names the variable with its path.
     */
    identity: z.strictObject({ file_env: envName.default('ROLLGATE_ID_TOKEN_FILE') }).optional(),
  })
  .refine((c) => c.oidc !== undefined || c.identity !== undefined, { message: 'give oidc, identity or both' });

/** What a step (or an undo) does, besides its place in the graph: its work (a program to run or an HTTP call). */
const WorkFields = {
  run: z.array(z.string()).min(1, 'give the program and its arguments as a list').optional(),
  http: HttpSchema.optional(),
  /** Working directory of a `run` step, relative to ROLLGATE_WORK_DIR (no `${}`: change data never picks a path). */
  cwd: z.string().min(1).optional(),
  /** Extra environment variables for a `run` step; values may use `${…}`. */
  env: z.record(envName, z.string()).default({}),
  credentials: CredentialsSchema.optional(),
  /** Per attempt of a `run` or `http` step (default DEFAULT_STEP_TIMEOUT); left unset so a misplaced one can be named. */
  timeout: duration.optional(),
  retry: RetrySchema.optional(),
};

/** How long one attempt of a `run` or `http` step may take when its `timeout` is not given. */
export const DEFAULT_STEP_TIMEOUT = '10m';

const exactlyOne = (keys: readonly string[]) => (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
  const given = keys.filter((k) => value[k] !== undefined);
  if (given.length !== 1) ctx.addIssue({ code: 'custom', message: `give exactly one of ${keys.join(', ')}${given.length > 1 ? ` (found ${given.join(', ')})` : ''}` });
};

const UndoSchema = z.strictObject(WorkFields).superRefine(exactlyOne(['run', 'http']));

const StepSchema = z
  .strictObject({
    id: name,
    needs: z.array(name).default([]),
    ...WorkFields,
    approval: ApprovalSchema.optional(),
    wait: duration.optional(),
    /** Undoes this step when the rollout rolls back after it succeeded. */
    undo: UndoSchema.optional(),
  })
  .superRefine(exactlyOne(['run', 'http', 'approval', 'wait']));

const RollbackStepSchema = z.strictObject({ id: name, ...WorkFields }).superRefine(exactlyOne(['run', 'http']));

export const WorkflowFileSchema = z.strictObject({
  name,
  params: z.record(name, z.string()).default({}),
  /** The whole rollout's time limit, approval waits included; then running steps stop and it rolls back. */
  timeout: duration.default('24h'),
  /** How many steps of one rollout run at the same time. */
  max_parallel: z.number().int().min(1).max(64).default(4),
  steps: z.array(StepSchema).min(1),
  rollback: z.array(RollbackStepSchema).default([]),
});

export type WorkflowDefinition = z.infer<typeof WorkflowFileSchema>;
export type StepDefinition = z.infer<typeof StepSchema>;
export type RollbackStepDefinition = z.infer<typeof RollbackStepSchema>;
export type UndoDefinition = z.infer<typeof UndoSchema>;
export type HttpDefinition = z.infer<typeof HttpSchema>;
export type CredentialsDefinition = z.infer<typeof CredentialsSchema>;
/** Anything that runs a program or calls a URL: a step, an undo, a rollback step. */
export type StepWork = UndoDefinition;
/** @deprecated the runner's old name for a step */
export type RunStepDefinition = StepDefinition;

export type StepKind = 'run' | 'http' | 'approval' | 'wait';

/** Where a workflow asks for a client-credentials token, with the audience it names there (if any). */
export function oidcCredentialUses(workflow: WorkflowDefinition): Array<{ readonly at: string; readonly audience: string | undefined }> {
  const uses: Array<{ at: string; audience: string | undefined }> = [];
  workflow.steps.forEach((step, i) => {
    if (step.credentials?.oidc) uses.push({ at: `steps[${i}]`, audience: step.credentials.oidc.audience });
    if (step.undo?.credentials?.oidc) uses.push({ at: `steps[${i}].undo`, audience: step.undo.credentials.oidc.audience });
  });
  workflow.rollback.forEach((step, i) => {
    if (step.credentials?.oidc) uses.push({ at: `rollback[${i}]`, audience: step.credentials.oidc.audience });
  });
  return uses;
}

/** Where a workflow asks for a step identity token (`steps[0]`, `steps[2].undo`, `rollback[1]`): its rules need `step_token`. */
export function identityTokenUses(workflow: WorkflowDefinition): string[] {
  const uses: string[] = [];
  workflow.steps.forEach((step, i) => {
    if (step.credentials?.identity) uses.push(`steps[${i}]`);
    if (step.undo?.credentials?.identity) uses.push(`steps[${i}].undo`);
  });
  workflow.rollback.forEach((step, i) => {
    if (step.credentials?.identity) uses.push(`rollback[${i}]`);
  });
  return uses;
}

export function stepKind(step: { run?: unknown; http?: unknown; approval?: unknown; wait?: unknown }): StepKind {
  if (step.run !== undefined) return 'run';
  if (step.http !== undefined) return 'http';
  if (step.approval !== undefined) return 'approval';
  return 'wait';
}

/** Checks a well-formed workflow's graph and variables; returns `file: path: problem` lines. */
export function checkWorkflow(file: string, workflow: WorkflowDefinition): string[] {
  const problems: string[] = [];
  const params = Object.keys(workflow.params);
  const checkTemplates = (at: string, value: unknown) => {
    for (const [where, text] of templates(value)) {
      for (const ref of referencedNames(text)) {
        if (!isKnownVariable(ref, params)) problems.push(`${at}${where}: unknown variable \${${ref}}`);
      }
    }
  };
  const checkWork = (at: string, work: StepWork) => {
    if (work.run) checkTemplates(`${at}.run`, work.run);
    if (work.http) {
      checkTemplates(`${at}.http.url`, work.http.url);
      checkTemplates(`${at}.http.headers`, work.http.headers);
      if (work.http.json !== undefined) checkTemplates(`${at}.http.json`, work.http.json);
    }
    checkTemplates(`${at}.env`, work.env);
    if (work.cwd?.includes('${')) problems.push(`${at}.cwd: no \${…} here; a working directory is fixed in the workflow`);
    if (work.http && (work.cwd !== undefined || Object.keys(work.env).length > 0)) problems.push(`${at}: cwd and env apply to run steps only`);
    if (work.http?.json !== undefined && (work.http.method === 'GET' || work.http.method === 'HEAD')) {
      problems.push(`${at}.http.json: a ${work.http.method} request has no body; use POST, PUT, PATCH or DELETE to send json`);
    }
    if (work.http && work.credentials) problems.push(`${at}.credentials: apply to run steps only (the token is passed in the environment)`);
    const tokenVar = work.credentials?.oidc?.env;
    if (tokenVar !== undefined && tokenVar in work.env) problems.push(`${at}.credentials.oidc.env: ${tokenVar} is also set in env; the token would replace it`);
    const fileVar = work.credentials?.identity?.file_env;
    if (fileVar !== undefined && fileVar in work.env) problems.push(`${at}.credentials.identity.file_env: ${fileVar} is also set in env; the token file's path would replace it`);
    if (fileVar !== undefined && fileVar === tokenVar) problems.push(`${at}.credentials.identity.file_env: ${fileVar} is also credentials.oidc.env; use two variables`);
  };

  const ids = new Map<string, number>();
  workflow.steps.forEach((step, i) => {
    if (ids.has(step.id)) problems.push(`${file}: steps[${i}].id: "${step.id}" is used twice`);
    else ids.set(step.id, i);
  });
  workflow.steps.forEach((step, i) => {
    const at = `${file}: steps[${i}]`;
    step.needs.forEach((need, j) => {
      if (need === step.id) problems.push(`${at}.needs[${j}]: a step cannot need itself`);
      else if (!ids.has(need)) problems.push(`${at}.needs[${j}]: no step "${need}" in this workflow`);
    });
    if (stepKind(step) === 'run' || stepKind(step) === 'http') checkWork(at, step);
    else if (step.retry || step.cwd || Object.keys(step.env).length > 0) problems.push(`${at}: retry, cwd and env apply to run and http steps only`);
    // a step-level timeout would silently do nothing on a gate or a wait: say which setting is meant
    if (step.timeout !== undefined && stepKind(step) === 'approval') problems.push(`${at}.timeout: does not apply to an approval step; set approval.timeout (how long the gate waits, default 24h)`);
    if (step.timeout !== undefined && stepKind(step) === 'wait') problems.push(`${at}.timeout: does not apply to a wait step; it waits exactly its wait duration`);
    if (step.credentials && stepKind(step) !== 'run' && stepKind(step) !== 'http') problems.push(`${at}.credentials: apply to run steps only (the token is passed in the environment)`);
    if (step.undo) {
      if (stepKind(step) !== 'run' && stepKind(step) !== 'http') problems.push(`${at}.undo: only run and http steps can be undone`);
      checkWork(`${at}.undo`, step.undo);
    }
  });
  const cycle = findCycle(workflow.steps);
  if (cycle) problems.push(`${file}: steps: needs form a cycle: ${cycle.join(' needs ')}`);

  const rollbackIds = new Set<string>();
  workflow.rollback.forEach((step, i) => {
    const at = `${file}: rollback[${i}]`;
    if (rollbackIds.has(step.id)) problems.push(`${at}.id: "${step.id}" is used twice`);
    rollbackIds.add(step.id);
    checkWork(at, step);
  });
  for (const [param, value] of Object.entries(workflow.params)) {
    for (const ref of referencedNames(value)) {
      if (ref.startsWith('params.') || !isKnownVariable(ref, [])) problems.push(`${file}: params.${param}: unknown variable \${${ref}}`);
    }
  }
  return problems;
}

/** The first cycle of `needs` found, as step ids from a step back to itself; undefined when the graph is a DAG. */
export function findCycle(steps: readonly { id: string; needs: readonly string[] }[]): string[] | undefined {
  const needs = new Map(steps.map((s) => [s.id, s.needs]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done' || !needs.has(id)) return undefined;
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const need of needs.get(id)!) {
      const found = visit(need);
      if (found) return found;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const s of steps) {
    const found = visit(s.id);
    if (found) return found;
  }
  return undefined;
}

/** Every string inside a value, with its path (`[0]`, `.rev`): where `${…}` may appear. */
export function templates(value: unknown, at = ''): Array<[string, string]> {
  if (typeof value === 'string') return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => templates(v, `${at}[${i}]`));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => templates(v, `${at}.${k}`));
  return [];
}
