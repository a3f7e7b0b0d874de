import { Execution, type ExecutionHost } from './rollout-execution.js';
import type { RunnerDeps } from './runner-deps.js';

export type { RunnerDeps } from './runner-deps.js';

const DEFAULT_LEASE_MS = 30_000;

/**
 * The execute stage. `runNext()` claims one rollout (queued, or abandoned by a crashed worker, or
 * due at an approval gate) and drives its workflow as a DAG: ready steps start in parallel up to
 * the workflow's `max_parallel`, each with its timeout and retries; a step whose needs did not
 * succeed is skipped; a step that fails for good stops new starts, and once running steps end the
 * rollout rolls back (undo of completed steps newest first, then the `rollback` steps). Every
 * transition is written as it happens under this worker's lease, which a heartbeat renews, so
 * another worker can take over a crashed one without repeating a finished step.
 */
export class Runner implements ExecutionHost {
  readonly #d: RunnerDeps;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #active = new Map<number, Execution>();
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #stopping = false;
  #renewedAt = 0;

  constructor(deps: RunnerDeps) {
    this.#d = deps;
    this.#leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
    this.#pollMs = Math.max(10, Math.min(deps.pollMs ?? 1000, Math.floor(this.#leaseMs / 3)));
  }

  get deps(): RunnerDeps {
    return this.#d;
  }
  get leaseMs(): number {
    return this.#leaseMs;
  }
  get pollMs(): number {
    return this.#pollMs;
  }

  /** Drives one claimed rollout until it finishes, parks at a gate, or is released; false when there was none. */
  async runNext(): Promise<boolean> {
    if (this.#stopping) return false;
    const supersedeRules = await this.#supersede();
    const rollout = await this.#d.leases.claim(this.#d.workerId, this.#leaseMs, supersedeRules);
    if (!rollout) return false;
    const execution = new Execution(this, rollout);
    this.#active.set(rollout.id, execution);
    this.#startHeartbeat();
    try {
      await execution.run();
    } finally {
      this.#active.delete(rollout.id);
      if (this.#active.size === 0) this.#stopHeartbeat();
    }
    return true;
  }

  /** Looks at once for operator requests and passed gates of the rollouts this runner drives. */
  wake(): void {
    if (this.#active.size > 0) void this.#beat();
  }

  /**
   * Stops taking work; running steps get `graceMs` to finish, then their processes are stopped
   * and their rollouts released for another worker (or the next start) to resume at once.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    for (const e of this.#active.values()) e.poke();
    const all = () => Promise.all([...this.#active.values()].map((e) => e.done));
    const timer = setTimeout(() => {
      for (const e of this.#active.values()) e.abort('shutdown');
    }, graceMs);
    await all();
    clearTimeout(timer);
    this.#stopHeartbeat();
    await this.#beating;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /**
   * Supersedes the queued rollouts a newer merge replaced; returns the rules it looked at. The
   * claim that follows skips one queued meanwhile (an approval between the two statements), so it
   * is superseded at the next pass, never run.
   */
  async #supersede(): Promise<readonly string[]> {
    const rules = this.#d.policy().rollouts.filter((r) => r.queue === 'supersede').map((r) => r.name);
    for (const row of await this.#d.leases.supersedeQueued(rules)) {
      this.#d.logger.info({ rolloutId: row.id, supersededBy: row.superseded_by }, 'rollout superseded by a newer merge');
      await this.#d.messages.superseded(row, row.superseded_by!);
      this.#d.onReport();
    }
    return rules;
  }

  #startHeartbeat(): void {
    if (this.#timer) return;
    this.#renewedAt = Date.now(); // a claim just took (or renewed) the lease
    this.#timer = setInterval(() => void this.#beat(), this.#pollMs);
  }

  #stopHeartbeat(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #beat(): Promise<void> {
    if (this.#beating) return this.#beating;
    this.#beating = (async () => {
      try {
        // judged: only claims made before the heartbeat asked; one made while it was on its way is
        // not in its answer, and taking that for a lost lease would give up (and re-run) its step
        const judged = new Map(this.#active);
        const held = new Map((await this.#d.leases.heartbeat(this.#d.workerId, this.#leaseMs)).map((h) => [h.id, h.request]));
        this.#renewedAt = Date.now();
        for (const [id, e] of judged) {
          if (this.#active.get(id) !== e) continue;
          if (!held.has(id)) {
            if (!e.finishing) e.abort('lost');
          } else if (held.get(id) === 'cancel') e.abort('cancel');
          e.poke();
        }
      } catch (err) {
        // the database may be restarting; the lease is long enough to try again, but once it has
        // run out another worker may have taken over, so this one stops its steps
        this.#d.logger.warn({ err }, 'lease heartbeat failed');
        if (Date.now() - this.#renewedAt > this.#leaseMs) for (const e of this.#active.values()) e.abort('lost');
      } finally {
        this.#beating = undefined;
      }
    })();
    return this.#beating;
  }
}
