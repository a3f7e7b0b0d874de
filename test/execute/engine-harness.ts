import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AuditStore } from '../../src/audit/audit-store.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import type { RolloutRow, StepRow } from '../../src/db/schema.js';
import type { Policy, RolloutRule } from '../../src/policy/policy-config.js';
import type { OperationDeps } from '../../src/actions/operations.js';
import { OperatorRequestStore } from '../../src/rollouts/operator-request-store.js';
import { RolloutLeaseStore } from '../../src/rollouts/rollout-lease-store.js';
import { RolloutReads } from '../../src/rollouts/rollout-reads.js';
import { RolloutStore } from '../../src/rollouts/rollout-store.js';
import { StepOutputStore } from '../../src/rollouts/step-output-store.js';
import { StepStore } from '../../src/rollouts/step-store.js';
import { Runner, type RunnerDeps } from '../../src/execute/runner.js';
import { checkWorkflow, WorkflowFileSchema, type WorkflowDefinition } from '../../src/policy/workflow-config.js';
import { silentLogger } from '../../src/log.js';
import { PollLoop } from '../../src/poll-loop.js';
import { ChangeMessages } from '../../src/messages/change-messages.js';
import { OutboxStore } from '../../src/messages/outbox-store.js';

/** The step program the engine tests run: a real process that records what reached it. */
export const STEP = path.resolve('test/fixtures/ops/step.mjs');

export interface StepCall {
  readonly event: 'start' | 'end' | 'fail' | 'grandchild';
  readonly name: string;
  readonly args: string[];
  readonly key: string;
  readonly attempt: string;
  /** `ROLLGATE_RESUMED`: '1' on a re-run after a takeover. */
  readonly resumed?: string;
  readonly change: string;
  readonly pid: number;
  readonly t: number;
}

/** A workflow as a user would write it, parsed and checked like a policy file. */
export function workflow(spec: Record<string, unknown>): WorkflowDefinition {
  const parsed = WorkflowFileSchema.parse(spec);
  const problems = checkWorkflow(`${parsed.name}.yaml`, parsed);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return parsed;
}

export function rule(name: string, wf: string, environment: string, queue: 'serial' | 'supersede' = 'serial'): RolloutRule {
  return {
    name,
    match: { project: 'payments/api', branch: 'main' },
    workflow: wf,
    environment,
    approval: [{ label: 'Code-Review', min_value: 2, roles: ['prod-deployer'], min_approvers: 1, forbid_self_approval: true }],
    justification: 'optional',
    queue,
  } as unknown as RolloutRule;
}

export function policy(workflows: readonly WorkflowDefinition[], rules: readonly RolloutRule[]): Policy {
  return { roles: { 'prod-deployer': ['sre'] }, idpRoles: {}, auditReaders: undefined, rollouts: rules, workflows: Object.fromEntries(workflows.map((w) => [w.name, w])) } as unknown as Policy;
}

let nextChange = 1000;

/** Records an allowed (queued) rollout as the decide stage does. */
export async function queueRollout(
  store: RolloutStore,
  wf: WorkflowDefinition,
  r: RolloutRule,
  patch: { change?: number; subject?: string; decision?: 'allow' | 'hold'; mergedAt?: Date } = {},
): Promise<RolloutRow> {
  const change = patch.change ?? nextChange++;
  const revision = change.toString(16).padStart(40, 'c');
  const row = await store.create({
    rolloutKey: `${r.name}:payments/api~${change}:${revision}`,
    rule: r.name,
    workflow: wf.name,
    environment: r.environment,
    project: 'payments/api',
    branch: 'main',
    changeNumber: change,
    patchset: 1,
    revision,
    newRev: revision,
    subject: patch.subject ?? `Change ${change}`,
    decision: patch.decision ?? 'allow',
    reasons: [],
    approvers: [],
    justification: 'tests',
    stepIds: wf.steps.map((s) => s.id),
    mergedAt: patch.mergedAt,
  });
  return row!;
}

/** A runner over a test database with a record folder its steps write to. */
export class Engine {
  readonly store: RolloutStore;
  readonly reads: RolloutReads;
  readonly leases: RolloutLeaseStore;
  readonly stepStore: StepStore;
  readonly requests: OperatorRequestStore;
  readonly outbox: OutboxStore;
  readonly recordDir: string;
  readonly runners: Runner[] = [];
  readonly #loops: PollLoop[] = [];
  readonly #handle: DatabaseHandle;
  #policy: Policy;

  constructor(handle: DatabaseHandle, p: Policy) {
    this.#handle = handle;
    this.#policy = p;
    this.store = new RolloutStore(handle.db);
    this.reads = new RolloutReads(handle.db);
    this.leases = new RolloutLeaseStore(handle.db);
    this.stepStore = new StepStore(handle.db);
    this.requests = new OperatorRequestStore(handle.db);
    this.outbox = new OutboxStore(handle.db);
    this.recordDir = mkdtempSync(path.join(tmpdir(), 'rollgate-engine-'));
    mkdirSync(this.recordDir, { recursive: true });
  }

  /** A rollout's audit trail rows as `kind step: summary`, oldest first. */
  async audit(rolloutId: number): Promise<string[]> {
    const rows = await this.#handle.db.selectFrom('audit_log').select(['kind', 'summary', 'data']).where('rollout_id', '=', rolloutId).orderBy('id').execute();
    return rows.map((r) => `${r.kind} ${(r.data as { step?: string }).step}: ${r.summary.replace(/^rollout #\d+: /, '')}`);
  }

  get db() {
    return this.#handle.db;
  }

  runner(overrides: Partial<RunnerDeps> = {}): Runner {
    const runner = new Runner({
      leases: this.leases,
      steps: this.stepStore,
      output: new StepOutputStore(this.#handle.db),
      reads: this.reads,
      messages: new ChangeMessages(this.outbox, 'http://rollgate.example'),
      policy: () => this.#policy,
      logger: silentLogger(),
      workDir: path.resolve('test/fixtures'),
      workerId: `test-${this.runners.length + 1}`,
      baseEnv: { PATH: process.env.PATH ?? '', RECORD_DIR: this.recordDir },
      onReport: () => {},
      audit: new AuditStore(this.#handle.db),
      leaseMs: 3000,
      pollMs: 50,
      ...overrides,
    });
    this.runners.push(runner);
    return runner;
  }

  /** Runs `workers` loops over one runner in the background, as the service does. */
  start(workers = 2, overrides: Partial<RunnerDeps> = {}): Runner {
    const runner = this.runner(overrides);
    for (let i = 0; i < workers; i++) {
      const loop = new PollLoop(`test-execute-${i}`, () => runner.runNext(), { idleMs: 50, logger: silentLogger() });
      this.#loops.push(loop);
      loop.start();
    }
    return runner;
  }

  operations(): OperationDeps {
    return {
      reads: this.reads,
      requests: this.requests,
      policy: () => this.#policy,
      wake: () => {
        for (const l of this.#loops) l.wake();
        for (const r of this.runners) r.wake();
      },
    };
  }

  /** Stops the runners and loops, and removes the folder the steps recorded in. */
  async stop(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.stop(2000)));
    await Promise.all(this.#loops.map((l) => l.stop()));
    rmSync(this.recordDir, { recursive: true, force: true });
  }

  calls(): StepCall[] {
    const file = path.join(this.recordDir, 'calls.jsonl');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as StepCall) : [];
  }

  async steps(rolloutId: number): Promise<Record<string, Pick<StepRow, 'status' | 'attempts' | 'error' | 'note'>>> {
    return Object.fromEntries((await this.reads.steps(rolloutId)).map((s) => [s.step_id, { status: s.status, attempts: s.attempts, error: s.error, note: s.note }]));
  }

  async messages(rolloutId: number): Promise<string[]> {
    return (await this.outbox.forRollout(rolloutId)).map((m) => m.message);
  }

  async status(rolloutId: number): Promise<string> {
    return (await this.reads.get(rolloutId))!.status;
  }
}

/** Step definition helper: `run` the step program as `name` with flags, then change-data args. */
export function run(name: string, flags: Record<string, string | number> = {}, args: string[] = []): string[] {
  return ['./ops/step.mjs', name, ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)]), ...(args.length > 0 ? ['--', ...args] : [])];
}
