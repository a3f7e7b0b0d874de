import type { RolloutRow } from '../db/schema.js';
import type { Policy } from '../decide/policy-config.js';
import type { RunStepDefinition, WorkflowDefinition } from './workflow-config.js';
import type { Logger } from '../log.js';
import { finishedMessage, REVIEW_TAG, startedMessage } from '../report/format-message.js';
import type { OutboxStore } from '../report/outbox-store.js';
import { rolloutSummary, stepSummary } from '../report/rollout-summary.js';
import { parseDuration } from './duration.js';
import { interpolate, type Variables } from './interpolate.js';
import { runProcess, type ProcessResult } from './run-process.js';
import type { RolloutStore } from './rollout-store.js';

export interface RunnerDeps {
  readonly rollouts: RolloutStore;
  readonly outbox: OutboxStore;
  readonly policy: () => Policy;
  readonly logger: Logger;
  readonly workDir: string;
  readonly publicUrl: string | undefined;
  readonly workerId: string;
  /** The environment a step's process sees: rollgate's own variables are added to it. */
  readonly baseEnv: Readonly<Record<string, string>>;
  readonly onReport: () => void;
  /** Sleep used between retries; injectable so tests need not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The outcome of one step, as the runner saw it. */
type StepOutcome = { readonly ok: true } | { readonly ok: false };

/**
 * The execute stage: claims queued rollouts and runs their workflow's steps in order. A step
 * whose `needs` did not succeed is skipped; a failed workflow runs its `rollback` steps. Every
 * step's status, exit code, duration and output tail is stored as it happens.
 */
export class Runner {
  readonly #d: RunnerDeps;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(deps: RunnerDeps) {
    this.#d = deps;
    this.#sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Runs one queued rollout to its end; returns false when none was queued. */
  async runNext(): Promise<boolean> {
    const rollout = await this.#d.rollouts.claimNext(this.#d.workerId);
    if (!rollout) return false;
    const log = this.#d.logger.child({ rolloutId: rollout.id, rule: rollout.rule });
    const workflow = this.#d.policy().workflows[rollout.workflow];
    const started = Date.now();
    if (!workflow) {
      log.error({ workflow: rollout.workflow }, 'workflow no longer exists in the policy');
      await this.#d.rollouts.updateStep(rollout.id, 'workflow', 0, { status: 'failed', error: `workflow "${rollout.workflow}" is not in the current policy` });
      await this.#finish(rollout, false, started);
      return true;
    }
    const summary = rolloutSummary(rollout, this.#d.publicUrl);
    await this.#report(rollout, 'started', startedMessage(summary, workflow.steps.map((s) => s.id)));
    log.info({ workflow: workflow.name }, 'rollout started');
    const ok = await this.#runWorkflow(rollout, workflow, log);
    await this.#finish(rollout, ok, started);
    log.info({ ok, ms: Date.now() - started }, 'rollout finished');
    return true;
  }

  async #runWorkflow(rollout: RolloutRow, workflow: WorkflowDefinition, log: Logger): Promise<boolean> {
    const vars = variables(rollout, workflow, this.#d.baseEnv);
    const done = new Map((await this.#d.rollouts.steps(rollout.id)).map((s) => [s.step_id, s.status]));
    const succeeded = new Set([...done].filter(([, s]) => s === 'succeeded').map(([id]) => id));
    let failed = [...done.values()].includes('failed');
    for (const [position, step] of workflow.steps.entries()) {
      if (done.get(step.id) === 'succeeded' || done.get(step.id) === 'failed' || done.get(step.id) === 'skipped') continue; // resumed run
      if (failed || !step.needs.every((n) => succeeded.has(n))) {
        await this.#d.rollouts.updateStep(rollout.id, step.id, position, { status: 'skipped', error: failed ? 'an earlier step failed' : 'a needed step did not succeed' });
        continue;
      }
      const outcome = await this.#runStep(rollout, step, position, vars, log);
      if (outcome.ok) succeeded.add(step.id);
      else failed = true;
    }
    if (failed) {
      for (const [i, step] of workflow.rollback.entries()) {
        await this.#runStep(rollout, { ...step, id: `rollback:${step.id}` }, workflow.steps.length + i, vars, log);
      }
    }
    return !failed;
  }

  async #runStep(rollout: RolloutRow, step: RunStepDefinition, position: number, vars: Variables, log: Logger): Promise<StepOutcome> {
    const attempts = step.retry?.attempts ?? 1;
    const backoffMs = parseDuration(step.retry?.backoff ?? '5s')!;
    const timeoutMs = parseDuration(step.timeout)!;
    let argv: string[];
    try {
      argv = step.run.map((arg) => interpolate(arg, vars));
    } catch (err) {
      await this.#d.rollouts.updateStep(rollout.id, step.id, position, { status: 'failed', error: (err as Error).message });
      return { ok: false };
    }
    const startedAt = new Date();
    let result: ProcessResult | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      await this.#d.rollouts.updateStep(rollout.id, step.id, position, { status: 'running', attempts: attempt, startedAt });
      result = await runProcess({
        argv,
        cwd: this.#d.workDir,
        env: { ...this.#d.baseEnv, ROLLGATE_ROLLOUT_ID: String(rollout.id), ROLLGATE_STEP_ID: step.id },
        timeoutMs,
      });
      const ok = result.exitCode === 0 && !result.timedOut && result.spawnError === undefined;
      log.info({ step: step.id, attempt, exitCode: result.exitCode, ms: result.durationMs, timedOut: result.timedOut }, 'step attempt finished');
      if (ok) {
        await this.#saveResult(rollout.id, step.id, position, 'succeeded', attempt, startedAt, result);
        return { ok: true };
      }
      if (attempt < attempts) await this.#sleep(backoffMs * 2 ** (attempt - 1));
    }
    await this.#saveResult(rollout.id, step.id, position, 'failed', attempts, startedAt, result!);
    return { ok: false };
  }

  async #saveResult(rolloutId: number, stepId: string, position: number, status: 'succeeded' | 'failed', attempts: number, startedAt: Date, r: ProcessResult): Promise<void> {
    const error = r.spawnError ?? (r.timedOut ? `timed out` : r.exitCode === null ? `killed by ${r.signal}` : status === 'failed' ? `exit code ${r.exitCode}` : null);
    await this.#d.rollouts.updateStep(rolloutId, stepId, position, {
      status,
      attempts,
      exitCode: r.exitCode,
      finishedAt: new Date(),
      durationMs: Date.now() - startedAt.getTime(),
      outputTail: r.outputTail,
      error,
    });
  }

  async #finish(rollout: RolloutRow, ok: boolean, started: number): Promise<void> {
    const finished = await this.#d.rollouts.finish(rollout.id, ok ? 'succeeded' : 'failed');
    const steps = (await this.#d.rollouts.steps(rollout.id)).map(stepSummary);
    const total = (finished.finished_at?.getTime() ?? Date.now()) - (finished.started_at?.getTime() ?? started);
    await this.#report(rollout, 'finished', finishedMessage(rolloutSummary(finished, this.#d.publicUrl), ok, total, steps));
  }

  async #report(rollout: RolloutRow, phase: string, message: string): Promise<void> {
    await this.#d.outbox.enqueue({
      messageKey: `rollout:${rollout.id}:${phase}`,
      rolloutId: rollout.id,
      project: rollout.project,
      changeNumber: rollout.change_number,
      revision: rollout.revision,
      tag: REVIEW_TAG,
      message,
    });
    this.#d.onReport();
  }
}

/** The values a workflow may refer to; all are plain strings placed into argv elements. */
function variables(rollout: RolloutRow, workflow: WorkflowDefinition, env: Readonly<Record<string, string>>): Variables {
  const builtins: Record<string, string> = {
    'change.project': rollout.project,
    'change.branch': rollout.branch,
    'change.number': String(rollout.change_number),
    'change.subject': rollout.subject,
    patchset: String(rollout.patchset),
    revision: rollout.revision,
    newRev: rollout.new_rev ?? rollout.revision,
    'rollout.id': String(rollout.id),
    'rollout.rule': rollout.rule,
    'rollout.environment': rollout.environment,
  };
  for (const [k, v] of Object.entries(env)) builtins[`env.${k}`] = v;
  for (const [name, template] of Object.entries(workflow.params)) builtins[`params.${name}`] = interpolate(template, builtins);
  return builtins;
}
