import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Each `run` step in a cgroup v2 of its own, where the machine lets rollgate create one: every
 * process the step starts is born into it and cannot leave it (short of root privileges), so
 * `cgroup.kill` stops all of them at once, setsid() or double fork notwithstanding.
 *
 * The step cgroups live under `<rollgate's own cgroup>/rollgate-steps/`, named
 * `step-<pgid>-<nonce>` so a worker that takes over after a crash finds a step's cgroup from the
 * process group recorded in the database. Available when cgroup2 is mounted, rollgate may create
 * cgroups below its own (root, or a systemd unit with `Delegate=yes`) and the kernel has
 * `cgroup.kill` (5.14+). Otherwise steps are tracked by walking /proc (see step-processes.ts).
 */

const BASE_NAME = 'rollgate-steps';

/** The folder step cgroups are made in, or undefined where they cannot be (found once). */
let base: string | undefined | null = null;

export function stepCgroupBase(): string | undefined {
  if (base === null) base = findBase();
  return base;
}

function findBase(): string | undefined {
  try {
    const mount = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' '))
      .find((f) => f[f.indexOf('-') + 1] === 'cgroup2');
    const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3);
    if (!mount || own === undefined) return undefined;
    const [root, point] = [mount[3]!, mount[4]!];
    // with a cgroup namespace the mount's root and our path are both relative to it
    const relative = root === '/' ? own : own.startsWith(root) ? own.slice(root.length) : undefined;
    if (relative === undefined) return undefined;
    const dir = path.join(point, relative, BASE_NAME);
    mkdirSync(dir, { recursive: true });
    // a trial step cgroup: can we make one, and does the kernel offer cgroup.kill?
    const probe = path.join(dir, `probe-${process.pid}`);
    mkdirSync(probe);
    const usable = existsSync(path.join(probe, 'cgroup.kill'));
    rmdirSync(probe);
    return usable ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** A step's cgroup: made by the step's wrapper as it starts (see `wrapInCgroup`). */
export class StepCgroup {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The cgroup of a step whose program led process group `pgid` (a crashed worker's), if there is one. */
  static ofProcessGroup(pgid: number): StepCgroup[] {
    const dir = stepCgroupBase();
    if (dir === undefined) return [];
    try {
      return readdirSync(dir)
        .filter((name) => name.startsWith(`step-${pgid}-`))
        .map((name) => new StepCgroup(path.join(dir, name)));
    } catch {
      return [];
    }
  }

  exists(): boolean {
    return existsSync(this.dir);
  }

  /** The processes in it now. */
  pids(): number[] {
    try {
      return readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** SIGKILL to every process in it, atomically with respect to forks. */
  kill(): void {
    try {
      writeFileSync(path.join(this.dir, 'cgroup.kill'), '1');
    } catch {
      // gone already
    }
  }

  /** Removes it once empty; a cgroup still holding processes stays (and is found again after a crash). */
  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      // not empty or gone
    }
  }
}

/**
 * The argv that starts `argv` inside a new step cgroup: a fixed shell script makes the cgroup
 * named after its own pid (which the program keeps, since it `exec`s), moves itself in, then
 * execs the program. The step's argv reaches the program as "$@", never as script text, so
 * change data stays data. If the cgroup cannot be made the program runs anyway, tracked by /proc.
 */
export function wrapInCgroup(base: string, nonce: string, argv: readonly string[], env: Readonly<Record<string, string>>): string[] {
  // the shell exports PWD; the program should see the environment it was given, no more
  const unsetPwd = env.PWD === undefined ? 'unset PWD; ' : '';
  const script = `d="$1/step-$$-$2"; shift 2; if mkdir "$d" 2>/dev/null; then echo $$ > "$d/cgroup.procs" 2>/dev/null || rmdir "$d" 2>/dev/null; fi; ${unsetPwd}exec "$@"`;
  return ['/bin/sh', '-c', script, 'rollgate-step', base, nonce, ...argv];
}
