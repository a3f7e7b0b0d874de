import { describe, expect, it } from 'vitest';
import type { MergedChangeRef } from '../../src/gerrit/gerrit-client.js';
import { silentLogger } from '../../src/log.js';
import { StallWatchdog } from '../../src/intake/stall-watchdog.js';

const merge = (number: number, revision: string, submitted: number): MergedChangeRef => ({
  project: 'p',
  branch: 'main',
  number,
  changeId: `I${revision}`,
  subject: 's',
  currentRevision: revision,
  currentPatchSet: 1,
  submitted: new Date(submitted),
});

function setup(merged: MergedChangeRef[], opts: { connected?: boolean; fail?: boolean } = {}) {
  let now = 1_800_000_000_000;
  const stalls: string[] = [];
  const queries: Date[] = [];
  const state = { connected: opts.connected ?? true };
  const watchdog = new StallWatchdog({
    stallMs: 60_000,
    gerrit: {
      queryMergedSince: async (since) => {
        queries.push(since);
        if (opts.fail) throw new Error('gerrit down');
        return merged.filter((m) => m.submitted >= since);
      },
    },
    connected: () => state.connected,
    onStall: (reason) => stalls.push(reason),
    logger: silentLogger(),
    now: () => now,
  });
  return { watchdog, stalls, queries, state, advance: (ms: number) => (now += ms), now: () => now };
}

describe('StallWatchdog', () => {
  it('does not ask Gerrit before the stream has been silent for stallMs', async () => {
    const t = setup([]);
    t.advance(59_999);
    expect(await t.watchdog.check()).toBe(false);
    expect(t.queries).toHaveLength(0);
  });

  it('calls a silent stream stalled when Gerrit shows a merge it did not deliver', async () => {
    const t = setup([]);
    const start = t.now();
    t.watchdog.connected();
    const merged = [merge(7, 'a'.repeat(40), start + 5_000)];
    const w = setup(merged);
    w.advance(60_000);
    expect(await w.watchdog.check()).toBe(true);
    expect(w.stalls).toHaveLength(1);
    expect(w.stalls[0]).toContain('p~7');
    // and not again right away: the clock restarts
    expect(await w.watchdog.check()).toBe(false);
    expect(w.stalls).toHaveLength(1);
  });

  it('is only quiet when Gerrit shows no newer merge, or only merges the stream delivered', async () => {
    const t = setup([]);
    const rev = 'b'.repeat(40);
    const merged = [merge(8, rev, t.now() + 1_000)];
    const u = setup(merged);
    u.advance(1_000);
    u.watchdog.lineArrived({ kind: 'line', text: JSON.stringify({ type: 'change-merged', patchSet: { revision: rev } }) });
    u.advance(60_000);
    expect(await u.watchdog.check()).toBe(false);
    expect(u.queries).toHaveLength(1);
    expect(u.stalls).toHaveLength(0);
    t.advance(60_000);
    expect(await t.watchdog.check()).toBe(false);
    expect(t.stalls).toHaveLength(0);
  });

  it('leaves a disconnected stream alone and counts silence from the reconnect', async () => {
    const t = setup([merge(9, 'c'.repeat(40), 1_800_000_001_000)], { connected: false });
    t.advance(120_000);
    expect(await t.watchdog.check()).toBe(false);
    expect(t.queries).toHaveLength(0);
    t.state.connected = true;
    t.watchdog.connected();
    t.advance(30_000);
    expect(await t.watchdog.check()).toBe(false);
    expect(t.queries).toHaveLength(0);
  });

  it('does nothing when Gerrit cannot be asked', async () => {
    const t = setup([], { fail: true });
    t.advance(60_000);
    expect(await t.watchdog.check()).toBe(false);
    expect(t.stalls).toHaveLength(0);
  });
});
