import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../../src/execute/run-process.js';
import { alive, escapedProcessesPerTest } from '../helpers/process-alive.js';

/**
 * The same attack as step-escapes-timeout-and-cancel.test.ts (a step leaves `setsid sleep 90`
 * behind, holding its output pipes), on the fallback used where rollgate cannot give a step a
 * cgroup of its own: the step's processes are found by walking /proc (process group, session,
 * parent chains, and the marker variable every step process inherits).
 */

const env = { PATH: process.env.PATH ?? '' };

describe('a step that escapes its process group, where there is no cgroup', () => {
  const escaped = escapedProcessesPerTest('walk');

  /** Starts a step that leaves `setsid sleep 90` behind, then runs `tail`. */
  function escaping(tail: string, options: { timeoutMs: number; signal?: AbortSignal }) {
    const pidFile = escaped.newPidFile();
    const began = Date.now();
    const result = runProcess({ argv: ['/bin/sh', '-c', `setsid sleep 90 & echo $! > "$0"; ${tail}`, pidFile], cwd: path.dirname(pidFile), env, containment: 'walk', ...options });
    const sleeper = escaped.pidIn(pidFile, 'the escaping child');
    return { result, sleeper, began };
  }

  it('a timeout returns within seconds and stops the escaped process', async () => {
    const { result, sleeper, began } = escaping('sleep 30', { timeoutMs: 1500 });
    expect(alive(await sleeper)).toBe(true);
    const r = await result;
    expect(r.timedOut).toBe(true);
    expect(Date.now() - began).toBeLessThan(8000);
    expect(alive(await sleeper)).toBe(false);
  });

  it('an abort (a cancel) returns within seconds and stops the escaped process', async () => {
    const abort = new AbortController();
    const { result, sleeper, began } = escaping('sleep 30', { timeoutMs: 60_000, signal: abort.signal });
    expect(alive(await sleeper)).toBe(true);
    abort.abort();
    const r = await result;
    expect(r.exitCode).toBeNull();
    expect(Date.now() - began).toBeLessThan(8000);
    expect(alive(await sleeper)).toBe(false);
  });

  it('a program that exits at once returns at once, and what it left running is stopped', async () => {
    const { result, sleeper, began } = escaping('exit 3', { timeoutMs: 60_000 });
    const r = await result;
    expect(r.exitCode).toBe(3);
    expect(Date.now() - began).toBeLessThan(8000);
    expect(alive(await sleeper)).toBe(false);
  });
});
