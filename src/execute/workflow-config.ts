import { z } from 'zod';
import { duration, name, notYet } from '../zod-atoms.js';
import { isKnownVariable, referencedNames } from './interpolate.js';

/**
 * The shape of `policies/workflows/<name>.yaml`: the steps a rollout runs. Checked structurally
 * by zod, then for order and variables by `checkWorkflow`.
 */
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

export type WorkflowDefinition = z.infer<typeof WorkflowFileSchema>;
export type RunStepDefinition = z.infer<typeof RunStepSchema>;

/** Checks a well-formed workflow for step order and unknown variables; returns `file: path: problem` lines. */
export function checkWorkflow(file: string, workflow: WorkflowDefinition): string[] {
  const problems: string[] = [];
  const params = Object.keys(workflow.params);
  const checkSteps = (steps: readonly RunStepDefinition[], key: 'steps' | 'rollback') => {
    const ids = new Set<string>();
    steps.forEach((step, i) => {
      const at = `${file}: ${key}[${i}]`;
      if (ids.has(step.id)) problems.push(`${at}.id: "${step.id}" is used twice`);
      ids.add(step.id);
      step.needs.forEach((need, j) => {
        // needs may only point backwards, so the order in the file is always a valid run order
        if (!ids.has(need) || need === step.id) problems.push(`${at}.needs[${j}]: "${need}" is not a step defined before "${step.id}"`);
      });
      step.run.forEach((arg, j) => {
        for (const ref of referencedNames(arg)) {
          if (!isKnownVariable(ref, params)) problems.push(`${at}.run[${j}]: unknown variable \${${ref}}`);
        }
      });
    });
  };
  checkSteps(workflow.steps, 'steps');
  checkSteps(workflow.rollback, 'rollback');
  for (const [param, value] of Object.entries(workflow.params)) {
    for (const ref of referencedNames(value)) {
      if (ref.startsWith('params.') || !isKnownVariable(ref, [])) problems.push(`${file}: params.${param}: unknown variable \${${ref}}`);
    }
  }
  return problems;
}

