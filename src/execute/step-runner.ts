import type { AuditEvent, AuditTrail } from '../audit/audit-trail.js';
import type { RolloutRow, StepRow, StepStatus } from '../db/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { parseDuration } from '../duration.js';
import { sleep } from './abortable-sleep.js';
import type { Variables } from '../policy/interpolate.js';
import { stopProcessGroup, THIS_HOST } from './orphan-process.js';
import { redact } from './redact.js';
import { stepRetryDelay } from './retry-backoff.js';
import type { StartedStep, StepStore } from '../rollouts/step-store.js';
import type { StepOutputStore } from '../rollouts/step-output-store.js';
import { OutputRecorder } from './output-recorder.js';
import { doWork, type WorkResult } from './step-work.js';
import { stepEvent, stepFinished } from './step-audit.js';
import { stepCredential, type StepCredentials, type StepIdentityTokens } from './step-credentials.js';
import { idempotencyKey, stepEnv } from './step-environment.js';
import { DEFAULT_STEP_TIMEOUT, type StepWork, type StepDefinition } from '../policy/workflow-config.js';

/** An attempt as it started, with when the step first started on this process's monotonic clock. */
type Started = StartedStep & { readonly origin: number };

/** Why a rollout's steps were stopped from outside. */
export type StopReason = 'cancel' | 'timeout' | 'shutdown' | 'lost';

/** How a step ended here; 'running' when it did not (shutdown, lost lease) and whoever resumes it records it. */
export interface StepEnd {
  readonly status: StepStatus;
  readonly error?: string | null;
}

/** What running steps needs of the service. */
export interface StepDeps {
  readonly steps: StepStore;
  /** Where a running attempt's output is stored as it comes (the page streams it). */
  readonly output: StepOutputStore;
  /** Unique per process (and per runner): the name its leases are held under. */
  readonly workerId: string;
  readonly workDir: string;
  /** The allowlisted environment a step's process sees; rollgate's own variables are added to it. */
  readonly baseEnv: Readonly<Record<string, string>>;
  /** Observes step durations. */
  readonly metrics?: Metrics;
  /** Jitter source for retry backoff; injectable for tests. */
  readonly random?: () => number;
  /** Appends step starts and ends to the audit trail, in the transaction that records them. */
  readonly audit?: AuditTrail;
  /** Gets the tokens of steps with `credentials.oidc`; absent while OIDC is not configured. */
  readonly credentials?: StepCredentials;
  /** Signs the identity tokens of steps with `credentials.identity`; absent while step tokens are not configured. */
  readonly identityTokens?: StepIdentityTokens;
}

/** What running steps needs of the claim they run under (read when used: the rollout's phase and stop reason change). */
export interface StepClaim {
  readonly rollout: RolloutRow;
  readonly log: Logger;
  readonly leaseMs: number;
  readonly vars: Variables;
  readonly secrets: readonly string[];
  /** Forward steps' attempts also end at the workflow deadline; rollback steps' do not. */
  readonly forwardSignal: AbortSignal;
  readonly deadline: number;
  readonly stopReason: StopReason | undefined;
  abort(reason: 'lost'): void;
}

/**
 * Runs the steps of one claim: each attempt recorded under the claim's lease (and in the audit
 * trail, in the same transaction), retried with backoff, stopped by the claim's signals.
 */
export class StepRunner {
  readonly #d: StepDeps;
  readonly #claim: StepClaim;

  constructor(deps: StepDeps, claim: StepClaim) {
    this.#d = deps;
    this.#claim = claim;
  }

  /** Runs a step (see #runAttempts) and, when it ended here, records how long it took. */
  async run(stepId: string, kind: string, def: StepWork | StepDefinition, row: StepRow, signal: AbortSignal): Promise<StepEnd> {
    const started = performance.now();
    const end = await this.#runAttempts(stepId, kind, def, row, signal);
    // 'running' means it did not end here (shutdown, lost lease): whoever resumes it records it
    if (end.status !== 'running') this.#d.metrics?.stepDuration.observe({ kind, status: end.status }, (performance.now() - started) / 1000);
    return end;
  }

  /** Runs a `run`, `http` or `wait` step (or an undo / rollback step) with its retries; the status it ended in. */
  async #runAttempts(stepId: string, kind: string, def: StepWork | StepDefinition, row: StepRow, signal: AbortSignal): Promise<StepEnd> {
    const id = this.#claim.rollout.id;
    const worker = this.#d.workerId;
    const key = idempotencyKey(id, stepId);
    const log = this.#claim.log.child({ step: stepId });
    // left running by a worker that died or stopped: this is a re-run after a takeover
    const resumed = row.status === 'running';
    // what the dead worker started may still run, and must not overlap this run
    const orphanNote = resumed && row.process_group !== null ? await this.#stopOrphan(row, log) : undefined;
    const takeoverNote = resumed && kind !== 'wait' ? `re-run after a takeover: attempt ${row.attempts} by worker ${row.lease_owner ?? 'that stopped'} was interrupted` : undefined;
    const noteText = [takeoverNote, orphanNote].filter((n) => n !== undefined).join('; ');
    const note = noteText !== '' ? { note: noteText } : {};
    if (kind === 'wait') {
      // a wait goes on where it was when its rollout was parked and claimed again: the same attempt
      const started = await this.#startStep(stepId, { kind, attempt: 1, idempotencyKey: key, continueAttempt: resumed, ...note });
      if (!started) return this.#stepLost();
      const until = (started.started_at?.getTime() ?? Date.now()) + parseDuration((def as StepDefinition).wait!)!;
      await sleep(until - Date.now(), signal);
      if (signal.aborted) return this.#interrupted(started, started.attempt_number, null);
      await this.#endStep(started, { status: 'succeeded', attempts: 1, attempt: { number: started.attempt_number, status: 'succeeded' } });
      return { status: 'succeeded' };
    }
    // an interrupted attempt is not a failure: a re-run gets a new attempt number beyond the retry budget
    const maxAttempts = resumed ? Math.max(def.retry?.attempts ?? 1, row.attempts) + 1 : (def.retry?.attempts ?? 1);
    const firstAttempt = row.attempts + 1;
    const stepTimeout = parseDuration(def.timeout ?? DEFAULT_STEP_TIMEOUT)!;
    let result: WorkResult | undefined;
    // the attempt record of the last failed attempt
    let number: number | undefined;
    let last: Started | undefined;
    let attempt = Math.min(firstAttempt, maxAttempts);
    for (; attempt <= maxAttempts; attempt++) {
      const started = await this.#startStep(stepId, { kind, attempt, idempotencyKey: key, ...(attempt === firstAttempt ? note : {}) });
      if (!started) return this.#stepLost();
      last = started;
      const forward = signal === this.#claim.forwardSignal;
      const timeoutMs = forward ? Math.max(1, Math.min(stepTimeout, this.#claim.deadline - Date.now())) : stepTimeout;
      // a fresh token for every attempt, held only in this attempt's environment and redaction list
      const credential = await stepCredential(def, { oidc: this.#d.credentials, identity: this.#d.identityTokens }, { rollout: this.#claim.rollout, stepId, attempt, timeoutMs });
      try {
        result =
          'error' in credential
            ? { ok: false, exitCode: null, httpStatus: null, output: null, error: redact(credential.error, this.#claim.secrets) }
            : await doWork(def, {
                vars: this.#claim.vars,
                workDir: this.#d.workDir,
                env: { ...this.#d.baseEnv, ...stepEnv(this.#claim.rollout, stepId, key, attempt, resumed && attempt === firstAttempt), ...credential.env },
                idempotencyKey: key,
                timeoutMs,
                secrets: [...credential.secrets, ...this.#claim.secrets],
                signal,
                recordOutput: (secrets) => new OutputRecorder(this.#d.output, { rolloutId: id, stepId, number: started.attempt_number }, secrets, log),
                onSpawn: (pgid) =>
                  this.#d.steps.setStepProcess(id, stepId, worker, pgid, THIS_HOST).catch((err: unknown) => {
                    // the step runs on; only a takeover after a crash would miss its process group
                    log.warn({ err, pgid }, 'could not record the step process group');
                  }),
              });
      } finally {
        // the identity token's file lives exactly as long as the attempt
        if (!('error' in credential)) await credential.release();
      }
      log.info({ attempt, ok: result.ok, exitCode: result.exitCode, httpStatus: result.httpStatus, error: result.error }, 'step attempt finished');
      if (signal.aborted) return this.#interrupted(started, started.attempt_number, result);
      if (result.ok) {
        await this.#endStep(started, { status: 'succeeded', attempts: attempt, exitCode: result.exitCode, httpStatus: result.httpStatus, outputTail: result.output, error: null, attempt: { number: started.attempt_number, status: 'succeeded' } });
        return { status: 'succeeded' };
      }
      number = started.attempt_number;
      if (attempt < maxAttempts) {
        await this.#d.steps.endAttempt(id, stepId, number, { status: 'failed', exitCode: result.exitCode, httpStatus: result.httpStatus, error: result.error });
        const delay = stepRetryDelay(def.retry!, attempt, this.#d.random ?? Math.random);
        log.info({ attempt, retryInMs: delay }, 'step failed; retrying');
        await sleep(delay, signal);
        if (signal.aborted) return this.#interrupted(started, undefined, result);
      }
    }
    const error = result?.error ?? 'failed';
    // the loop runs at least once: the first attempt is never past the last
    await this.#endStep(last!, {
      status: 'failed',
      attempts: maxAttempts,
      exitCode: result?.exitCode ?? null,
      httpStatus: result?.httpStatus ?? null,
      outputTail: result?.output ?? null,
      error,
      ...(number !== undefined ? { attempt: { number, status: 'failed' as const } } : {}),
    });
    return { status: 'failed', error };
  }

  /**
   * Stops the process group a dead worker's attempt of this step left running, when it is on
   * this host; returns the note the step keeps about it (undefined when nothing was running).
   * On another host it can only be said: the step runs again with the same idempotency key.
   */
  async #stopOrphan(row: StepRow, log: Logger): Promise<string | undefined> {
    const pgid = row.process_group!;
    const previous = row.lease_owner ?? 'that stopped';
    if (row.process_host !== THIS_HOST) {
      log.warn({ pgid, host: row.process_host, previousWorker: previous }, 'the step may still be running on another host; running it again');
      return `the previous attempt ran on ${row.process_host} (process group ${pgid}), which rollgate cannot stop from ${THIS_HOST}; it ran again with the same idempotency key`;
    }
    const end = await stopProcessGroup(pgid);
    if (end === 'gone' || end === 'not-ours') return undefined;
    log.warn({ pgid, previousWorker: previous, how: end }, 'stopped a step process group left running by a worker that died');
    return `stopped process group ${pgid} left running by worker ${previous} (${end === 'killed' ? 'SIGKILL after SIGTERM' : 'SIGTERM'}) before running it again`;
  }

  /**
   * Starts (or resumes) an attempt of a step under this worker's lease, recording the attempt and
   * its audit entry in one statement; undefined when the lease was lost.
   */
  async #startStep(stepId: string, s: { kind: string; attempt: number; idempotencyKey: string; note?: string; continueAttempt?: boolean }): Promise<Started | undefined> {
    const event = this.stepEvent('step-started', { step_id: stepId, kind: s.kind }, `step ${stepId} started (${s.kind}, attempt ${s.attempt})`, { attempt: s.attempt, idempotencyKey: s.idempotencyKey });
    const row = await this.#d.steps.startStep(this.#claim.rollout.id, stepId, this.#d.workerId, this.#claim.leaseMs, s, this.#d.audit?.sqlFor(event));
    // the moment the step first started, on this process's monotonic clock
    return row && { ...row, origin: performance.now() - row.elapsed_ms };
  }

  /**
   * Records a step's end under this worker's lease, with its audit entry, in one statement;
   * undefined when the lease was lost. The lease keeps the row as `started` left it, so the row it
   * ends with, and so the entry, are known before the statement: it writes exactly those values.
   */
  async #endStep(started: Started, update: Omit<Parameters<StepStore['endStep']>[3], 'durationMs'>): Promise<StepRow | undefined> {
    const row: StepRow = {
      ...started,
      status: update.status,
      attempts: update.attempts ?? started.attempts,
      exit_code: update.exitCode !== undefined ? update.exitCode : started.exit_code,
      http_status: update.httpStatus !== undefined ? update.httpStatus : started.http_status,
      error: update.error !== undefined ? update.error : started.error,
      duration_ms: Math.max(0, Math.round(performance.now() - started.origin)),
    };
    const { summary, facts } = stepFinished(row);
    const event = this.stepEvent('step-finished', row, summary, facts);
    const final = { ...update, attempts: row.attempts, exitCode: row.exit_code, httpStatus: row.http_status, error: row.error, durationMs: row.duration_ms! };
    return this.#d.steps.endStep(this.#claim.rollout.id, started.step_id, this.#d.workerId, final, this.#d.audit?.sqlFor(event));
  }

  /**
   * Makes a state change and, with an audit trail, appends what it did in the same transaction:
   * the trail never shows a step start or end the database does not, nor misses one it does.
   */
  async audited<T>(change: (steps: StepStore) => Promise<T>, event: (result: T) => AuditEvent | undefined): Promise<T> {
    const audit = this.#d.audit;
    if (!audit) return change(this.#d.steps);
    return this.#d.steps.inTransaction(async (tx) => {
      const result = await change(tx.steps);
      const e = event(result);
      if (e) await audit.append(e, tx.db);
      return result;
    });
  }

  stepEvent(kind: 'step-started' | 'step-finished', row: Pick<StepRow, 'step_id' | 'kind'>, summary: string, facts: Readonly<Record<string, unknown>>): AuditEvent {
    return stepEvent(this.#claim.rollout, this.#d.workerId, kind, row, summary, facts);
  }

  #stepLost(): StepEnd {
    this.#claim.abort('lost');
    return { status: 'running' };
  }

  /** A step stopped from outside: cancelled or timed out are recorded; a shutdown or lost lease leaves it to be resumed. */
  async #interrupted(started: Started, attemptNumber: number | undefined, result: WorkResult | null): Promise<StepEnd> {
    const reason = this.#claim.stopReason;
    if (reason !== 'cancel' && reason !== 'timeout') return { status: 'running' };
    const error = reason === 'cancel' ? 'stopped: the rollout was cancelled' : 'stopped: the workflow timed out';
    const status = reason === 'cancel' ? 'cancelled' : 'failed';
    await this.#endStep(started, {
      status,
      exitCode: result?.exitCode ?? null,
      httpStatus: result?.httpStatus ?? null,
      outputTail: result?.output ?? null,
      error,
      ...(attemptNumber !== undefined ? { attempt: { number: attemptNumber, status } } : {}),
    });
    return { status, error };
  }
}
