import { describe, expect, it } from 'vitest';
import type { StepRow, StepStatus } from '../../src/db/schema.js';
import { expiredGates, forwardState, parkedUntil, readySteps, resumedStatus, skippedSteps, stepFailure, type PlanStep } from '../../src/execute/dag-plan.js';
import { isRollbackStep, rollbackDefinition, rollbackEnd, rollbackPlan } from '../../src/execute/rollback-plan.js';
import { WorkflowFileSchema } from '../../src/policy/workflow-config.js';

/** Steps written as `id<-need,need` (a run step) or `?id<-need` (an approval gate). */
function graph(...specs: string[]): PlanStep[] {
  return specs.map((spec) => {
    const gate = spec.startsWith('?');
    const [id, needs] = spec.replace('?', '').split('<-');
    return { id: id!, needs: needs ? needs.split(',') : [], ...(gate ? { approval: { roles: ['sre'], timeout: '1h' } } : { run: ['true'] }) };
  });
}

/** Statuses written as `id=status`; a step not named is pending. */
function statuses(steps: readonly PlanStep[], ...given: string[]): Map<string, StepStatus> {
  const status = new Map<string, StepStatus>(steps.map((s) => [s.id, 'pending']));
  for (const g of given) {
    const [id, s] = g.split('=');
    status.set(id!, s as StepStatus);
  }
  return status;
}

const diamond = graph('a', 'b<-a', 'c<-a', 'd<-b,c');
const chain = graph('a', 'b<-a', 'c<-b');

describe('readySteps', () => {
  it.each([
    { name: 'a diamond starts at its root', steps: diamond, given: [], running: 0, max: 4, ready: ['a'] },
    { name: 'a diamond fans out once its root succeeded', steps: diamond, given: ['a=succeeded'], running: 0, max: 4, ready: ['b', 'c'] },
    { name: 'a diamond joins only when both sides succeeded', steps: diamond, given: ['a=succeeded', 'b=succeeded', 'c=running'], running: 1, max: 4, ready: [] },
    { name: 'the join starts after both', steps: diamond, given: ['a=succeeded', 'b=succeeded', 'c=succeeded'], running: 0, max: 4, ready: ['d'] },
    { name: 'a chain runs one step at a time', steps: chain, given: ['a=succeeded'], running: 0, max: 4, ready: ['b'] },
    { name: 'a running need is not a succeeded one', steps: chain, given: ['a=running'], running: 1, max: 4, ready: [] },
    { name: 'a failed need never readies its dependant', steps: chain, given: ['a=failed'], running: 0, max: 4, ready: [] },
    { name: 'max_parallel caps the starts, in workflow order', steps: graph('a', 'b', 'c', 'd'), given: [], running: 0, max: 2, ready: ['a', 'b'] },
    { name: 'running steps take slots', steps: graph('a', 'b', 'c', 'd'), given: ['a=running'], running: 1, max: 2, ready: ['b'] },
    { name: 'no slot left: nothing but gates', steps: graph('a', 'b', '?g'), given: ['a=running'], running: 1, max: 1, ready: ['g'] },
    { name: 'a gate after a step waits for it', steps: graph('a', '?g<-a', 'b<-g'), given: ['a=succeeded'], running: 0, max: 4, ready: ['g'] },
    { name: 'a waiting gate holds its dependants', steps: graph('a', '?g<-a', 'b<-g'), given: ['a=succeeded', 'g=waiting'], running: 0, max: 4, ready: [] },
    { name: 'a passed gate lets them start', steps: graph('a', '?g<-a', 'b<-g'), given: ['a=succeeded', 'g=succeeded'], running: 0, max: 4, ready: ['b'] },
  ])('$name', ({ steps, given, running, max, ready }) => {
    expect(readySteps(steps, statuses(steps, ...given), running, max).map((r) => r.step.id)).toEqual(ready);
  });

  it('tells gates from steps', () => {
    const steps = graph('a', '?g');
    expect(readySteps(steps, statuses(steps), 0, 4).map((r) => [r.step.id, r.as])).toEqual([['a', 'step'], ['g', 'gate']]);
  });
});

describe('skippedSteps', () => {
  it.each([
    { name: 'nothing failed, nothing skipped', steps: diamond, given: ['a=succeeded'], skipped: [] },
    { name: 'a failed need skips its dependants, and theirs', steps: chain, given: ['a=failed'], skipped: [['b', 'needs a, which failed'], ['c', 'needs b, which was skipped']] },
    { name: 'one failed side of a diamond skips the join', steps: diamond, given: ['a=succeeded', 'b=failed', 'c=running'], skipped: [['d', 'needs b, which failed']] },
    { name: 'a cancelled gate skips what needs it', steps: graph('?g', 'b<-g'), given: ['g=cancelled'], skipped: [['b', 'needs g, which was cancelled']] },
    { name: 'skips propagate whatever the file order', steps: graph('c<-b', 'b<-a', 'a'), given: ['a=failed'], skipped: [['b', 'needs a, which failed'], ['c', 'needs b, which was skipped']] },
    { name: 'only pending steps are skipped', steps: chain, given: ['a=failed', 'b=succeeded'], skipped: [] },
  ])('$name', ({ steps, given, skipped }) => {
    const status = statuses(steps, ...given);
    const before = new Map(status);
    expect(skippedSteps(steps, status).map((s) => [s.stepId, s.note])).toEqual(skipped);
    expect(status).toEqual(before); // the plan does not change the caller's statuses
  });
});

describe('forwardState', () => {
  it.each([
    { name: 'steps still running', given: ['a=running'], running: 1, failure: undefined, kind: 'running' },
    { name: 'everything succeeded', given: ['a=succeeded', 'b=succeeded', 'c=succeeded', 'd=succeeded'], running: 0, failure: undefined, kind: 'succeeded' },
    { name: 'skipped steps do not hold a success back', given: ['a=succeeded', 'b=succeeded', 'c=skipped', 'd=skipped'], running: 0, failure: undefined, kind: 'succeeded' },
    { name: 'a failure ends it once nothing runs', given: ['a=succeeded', 'b=failed', 'c=succeeded'], running: 0, failure: 'step b failed', kind: 'failed' },
    { name: 'a failure waits for the running steps', given: ['a=succeeded', 'b=failed', 'c=running'], running: 1, failure: 'step b failed', kind: 'running' },
    { name: 'pending steps nothing started', given: ['a=succeeded'], running: 0, failure: undefined, kind: 'blocked' },
  ])('$name', ({ given, running, failure, kind }) => {
    expect(forwardState(diamond, statuses(diamond, ...given), running, failure).kind).toBe(kind);
  });

  it('names the gates to cancel and the steps to skip when the run failed', () => {
    const steps = graph('a', '?g', 'b<-g', 'c');
    expect(forwardState(steps, statuses(steps, 'a=failed', 'g=waiting', 'c=succeeded'), 0, 'step a failed')).toEqual({ kind: 'failed', outcome: 'step a failed', waiting: ['g'], pending: ['b'] });
  });

  it('parks at waiting gates when only approvals can move it on', () => {
    const steps = graph('a', '?g<-a', '?h<-a', 'b<-g,h');
    expect(forwardState(steps, statuses(steps, 'a=succeeded', 'g=waiting', 'h=waiting'), 0, undefined)).toEqual({ kind: 'at-gates', gates: ['g', 'h'] });
  });
});

describe('gates and resumption', () => {
  it('fails only waiting gates whose deadline has come', () => {
    const steps = graph('?g', '?h', '?i');
    const deadlines = new Map([['g', 100], ['h', 200], ['i', 50]]);
    expect(expiredGates(deadlines, statuses(steps, 'g=waiting', 'h=waiting', 'i=succeeded'), 150)).toEqual(['g']);
    expect(expiredGates(deadlines, statuses(steps, 'g=waiting', 'h=waiting'), 200)).toEqual(['g', 'h']);
  });

  it('wakes a parked rollout at its first gate deadline, or the workflow deadline if sooner', () => {
    const deadlines = new Map([['g', 300], ['h', 200]]);
    expect(parkedUntil(1000, ['g', 'h'], deadlines).getTime()).toBe(200);
    expect(parkedUntil(100, ['g', 'h'], deadlines).getTime()).toBe(100);
    expect(parkedUntil(1000, ['x'], deadlines).getTime()).toBe(1000);
  });

  it('runs a step a crashed worker left running again, and keeps every other status', () => {
    expect(resumedStatus('running')).toBe('pending');
    for (const s of ['pending', 'waiting', 'succeeded', 'failed', 'skipped', 'cancelled'] as const) expect(resumedStatus(s)).toBe(s);
  });

  it('words a failure with its error when there is one', () => {
    expect(stepFailure('a', 'exit 1')).toBe('step a failed: exit 1');
    expect(stepFailure('a', null)).toBe('step a failed');
  });
});

describe('rollbackPlan', () => {
  const workflow = WorkflowFileSchema.parse({
    name: 'w',
    steps: [
      { id: 'a', run: ['a'], undo: { run: ['undo-a'] } },
      { id: 'b', needs: ['a'], http: { url: 'http://x/b' }, undo: { http: { url: 'http://x/undo-b' } } },
      { id: 'c', needs: ['a'], run: ['c'] },
      { id: 'd', needs: ['b', 'c'], run: ['d'], undo: { run: ['undo-d'] } },
    ],
    rollback: [{ id: 'page', run: ['page'] }, { id: 'notify', http: { url: 'http://x/notify' } }],
  });
  const row = (step_id: string, status: StepStatus, finishedAt: number | null, position: number): Pick<StepRow, 'step_id' | 'status' | 'finished_at' | 'position'> => ({
    step_id,
    status,
    finished_at: finishedAt === null ? null : new Date(finishedAt),
    position,
  });

  it.each([
    {
      name: 'undoes succeeded steps most recently finished first, then the rollback steps in file order',
      rows: [row('a', 'succeeded', 10, 0), row('b', 'succeeded', 30, 1), row('c', 'succeeded', 20, 2), row('d', 'failed', 40, 3)],
      plan: [['undo:b', 'http', 'undoes b'], ['undo:a', 'run', 'undoes a'], ['rollback:page', 'run', null], ['rollback:notify', 'http', null]],
    },
    {
      name: 'steps finished together go by position, later first',
      rows: [row('a', 'succeeded', 10, 0), row('b', 'succeeded', 10, 1)],
      plan: [['undo:b', 'http', 'undoes b'], ['undo:a', 'run', 'undoes a'], ['rollback:page', 'run', null], ['rollback:notify', 'http', null]],
    },
    {
      name: 'after a cancel only what had succeeded is undone (skipped, cancelled and running steps are not)',
      rows: [row('a', 'succeeded', 10, 0), row('b', 'cancelled', 20, 1), row('c', 'skipped', null, 2), row('d', 'running', null, 3)],
      plan: [['undo:a', 'run', 'undoes a'], ['rollback:page', 'run', null], ['rollback:notify', 'http', null]],
    },
    {
      name: 'rollback steps already planned are not undone again',
      rows: [row('a', 'succeeded', 10, 0), row('undo:a', 'succeeded', 20, 4), row('rollback:page', 'succeeded', 30, 5)],
      plan: [['undo:a', 'run', 'undoes a'], ['rollback:page', 'run', null], ['rollback:notify', 'http', null]],
    },
  ])('$name', ({ rows, plan }) => {
    expect(rollbackPlan(workflow, rows).map((s) => [s.stepId, s.kind, s.note])).toEqual(plan);
  });

  it('finds what each planned step runs, and nothing for a step the workflow lost', () => {
    expect(rollbackDefinition(workflow, 'undo:a')?.run).toEqual(['undo-a']);
    expect(rollbackDefinition(workflow, 'rollback:notify')?.http?.url).toBe('http://x/notify');
    expect(rollbackDefinition(workflow, 'undo:c')).toBeUndefined();
    expect(rollbackDefinition(workflow, 'rollback:gone')).toBeUndefined();
    expect([isRollbackStep('undo:a'), isRollbackStep('rollback:x'), isRollbackStep('a')]).toEqual([true, true, false]);
  });

  it.each([
    { result: 'ok', cancelled: false, end: 'rolled_back' },
    { result: 'ok', cancelled: true, end: 'rolled_back' },
    { result: 'failed', cancelled: true, end: 'failed' },
    { result: 'none', cancelled: true, end: 'cancelled' },
    { result: 'none', cancelled: false, end: 'failed' },
  ] as const)('a rollback that was $result ends the rollout $end (cancelled: $cancelled)', ({ result, cancelled, end }) => {
    expect(rollbackEnd(result, cancelled)).toBe(end);
  });
});
