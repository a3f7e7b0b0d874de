import { randomBytes } from 'node:crypto';
import { allProcesses, hasEnvironmentEntry, HAS_PROC, processInfo, type ProcessInfo } from './process-tree.js';
import { StepCgroup, stepCgroupBase, wrapInCgroup } from './step-cgroup.js';

/** How a step's processes are found: its own cgroup where the machine allows, /proc otherwise. */
export type Containment = 'auto' | 'walk';

/** The variable every step process inherits, so one that left the step's group and parent chain is still found. */
export const STEP_MARKER_VARIABLE = 'ROLLGATE_STEP_INSTANCE';

/** How long a stopped step's processes get between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 5000;
/** How often the parent chains of a step not in a cgroup are snapshotted while it runs. */
const SNAPSHOT_MS = 200;
const POLL_MS = 50;

/**
 * Everything one `run` step started, and the means to stop all of it. Members are found by, in
 * order of strength:
 *  1. the step's cgroup (see step-cgroup.ts): every process, wherever it went;
 *  2. the step's process group and session (the program leads both);
 *  3. parent chains from the program, snapshotted while it runs and again when it is stopped
 *     (a setsid() child keeps its parent until that parent exits);
 *  4. the marker variable in the environment, inherited unless a process clears it.
 * Processes remembered from a snapshot are signalled only while their start time still matches,
 * so a reused pid is never hit.
 */
export class StepProcesses {
  readonly marker = `${STEP_MARKER_VARIABLE}=${randomBytes(12).toString('hex')}`;
  readonly #cgroupBase: string | undefined;
  readonly #nonce = randomBytes(6).toString('hex');
  #leader: number | undefined;
  #cgroup: StepCgroup | undefined;
  readonly #known = new Map<number, string>();
  #timer: NodeJS.Timeout | undefined;
  #stopping: Promise<'gone' | 'terminated' | 'killed'> | undefined;
  readonly #terminated = new Set<string>();

  /** False for a dead worker's step, whose marker value is not known. */
  #markerKnown = true;

  constructor(containment: Containment = 'auto') {
    this.#cgroupBase = containment === 'auto' ? stepCgroupBase() : undefined;
  }

  /**
   * What is left of a step a dead worker of this host started as process group `pgid`: the
   * group, its session, their descendants, and the step's cgroup if it had one.
   */
  static leftBy(pgid: number): StepProcesses {
    const left = new StepProcesses('walk');
    left.#markerKnown = false;
    left.#leader = pgid;
    left.#cgroup = StepCgroup.ofProcessGroup(pgid)[0];
    return left;
  }

  /** How the step's processes are held, for the logs and the README: `cgroup` or `process walk`. */
  get mechanism(): 'cgroup' | 'process walk' {
    return this.#cgroup?.exists() ? 'cgroup' : 'process walk';
  }

  get markerEnv(): Record<string, string> {
    const [name, value] = this.marker.split('=') as [string, string];
    return { [name]: value };
  }

  /** The argv to spawn: the step's own, or wrapped so it starts inside its cgroup. */
  argv(argv: readonly string[], env: Readonly<Record<string, string>>): string[] {
    return this.#cgroupBase === undefined ? [...argv] : wrapInCgroup(this.#cgroupBase, this.#nonce, argv, env);
  }

  /** The program started as `pid`, leading its own process group and session. */
  attach(pid: number): void {
    this.#leader = pid;
    if (this.#cgroupBase !== undefined) this.#cgroup = new StepCgroup(`${this.#cgroupBase}/step-${pid}-${this.#nonce}`);
    this.#snapshot();
    // in a cgroup nothing escapes; elsewhere parent chains must be caught before parents exit
    if (HAS_PROC) {
      this.#timer = setInterval(() => {
        if (!this.#cgroup?.exists()) this.#snapshot();
      }, SNAPSHOT_MS);
      this.#timer.unref();
    }
  }

  /**
   * Stops every member: SIGTERM, then SIGKILL to what is left after `graceMs`. Called again it
   * returns the same stop. Says `gone` when nothing was left to stop.
   */
  stop(graceMs = STOP_GRACE_MS): Promise<'gone' | 'terminated' | 'killed'> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  /** Stops the snapshots and removes the step's cgroup; call after `stop()`. */
  release(): void {
    clearInterval(this.#timer);
    this.#cgroup?.remove();
  }

  async #stop(graceMs: number): Promise<'gone' | 'terminated' | 'killed'> {
    if (this.#signal('SIGTERM', true) === 0) return 'gone';
    const until = Date.now() + graceMs;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      // a member may fork while it winds down: signal newcomers too
      if (this.#signal('SIGTERM', false) === 0) return 'terminated';
    }
    for (let i = 0; i < 40; i++) {
      this.#cgroup?.kill();
      if (this.#signal('SIGKILL', i === 0) === 0) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return 'killed';
  }

  /** Sends `signal` to every member found now; returns how many there were. */
  #signal(signal: NodeJS.Signals, scanEnvironments: boolean): number {
    const members = this.#members(scanEnvironments);
    for (const pid of members) {
      // SIGTERM once per process: a step's cleanup trap should run once, not every poll
      const id = `${pid} ${processInfo(Math.abs(pid))?.startTime ?? ''}`;
      if (signal === 'SIGTERM' && this.#terminated.has(id)) continue;
      if (signal === 'SIGTERM') this.#terminated.add(id);
      try {
        process.kill(pid, signal);
      } catch {
        // gone meanwhile
      }
    }
    return members.size;
  }

  /** The live (non-zombie) members now. Environment scans read every process, so they are done sparingly. */
  #members(scanEnvironments: boolean): Set<number> {
    const all = this.#snapshot();
    const members = new Set<number>();
    const live = (p: ProcessInfo | undefined) => p !== undefined && !p.zombie;
    for (const pid of this.#cgroup?.pids() ?? []) if (live(processInfo(pid))) members.add(pid);
    for (const p of all) {
      if (p.zombie) continue;
      if (this.#known.get(p.pid) === p.startTime) members.add(p.pid);
      else if (scanEnvironments && this.#markerKnown && hasEnvironmentEntry(p.pid, this.marker)) {
        this.#known.set(p.pid, p.startTime);
        members.add(p.pid);
      }
    }
    if (!HAS_PROC && this.#leader !== undefined) {
      // no /proc (macOS): the process group is all that can be seen
      try {
        process.kill(-this.#leader, 0);
        members.add(-this.#leader);
      } catch {
        // gone
      }
    }
    return members;
  }

  /** Adds the leader's group, session and descendants to the known members; returns the whole listing. */
  #snapshot(): ProcessInfo[] {
    const leader = this.#leader;
    const all = allProcesses();
    if (leader === undefined) return all;
    const byPid = new Map(all.map((p) => [p.pid, p]));
    for (let added = true; added; ) {
      added = false;
      for (const p of all) {
        if (this.#known.get(p.pid) === p.startTime) continue;
        const parentKnown = this.#known.get(p.ppid) !== undefined && this.#known.get(p.ppid) === byPid.get(p.ppid)?.startTime;
        if (p.pid === leader || p.pgid === leader || p.sid === leader || parentKnown) {
          this.#known.set(p.pid, p.startTime);
          added = true;
        }
      }
    }
    return all;
  }
}
