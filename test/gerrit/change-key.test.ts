import { describe, expect, it } from 'vitest';
import { eventDedupKey } from '../../src/gerrit/change-key.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, mergedChange } from '../helpers/change-events.js';

describe('eventDedupKey', () => {
  const change = mergedChange(7, bob);

  it('gives a merge the same key however its JSON is written or where it came from', () => {
    const event = changeMergedEvent(change);
    const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(event).reverse()))) as Record<string, unknown>;
    const backfilled = { type: 'change-merged', change: { project: 'payments/api', number: 7 }, patchSet: { number: 1, revision: change.revision } };
    expect(eventDedupKey(reordered)).toBe(eventDedupKey(event));
    expect(eventDedupKey(backfilled)).toBe(`change-merged:payments/api~7:${change.revision}`);
  });

  it('tells comments apart by author, time and text, and not by formatting', () => {
    const a = commentAddedEvent(change, alice, '/rollout approve ok');
    expect(eventDedupKey(JSON.parse(JSON.stringify(a, null, 2)) as Record<string, unknown>)).toBe(eventDedupKey(a));
    expect(eventDedupKey(commentAddedEvent(change, carol, '/rollout approve ok'))).not.toBe(eventDedupKey(a));
    expect(eventDedupKey(commentAddedEvent(change, alice, '/rollout approve other'))).not.toBe(eventDedupKey(a));
    expect(eventDedupKey({ ...a, eventCreatedOn: 1 })).not.toBe(eventDedupKey(a));
  });

  it('keeps a hint source\'s keys apart, so a webhook delivery never shadows the stream\'s event', () => {
    const event = changeMergedEvent(change);
    expect(eventDedupKey(event, undefined, 'webhook')).toBe(`webhook:${eventDedupKey(event)}`);
    expect(eventDedupKey(event, undefined, 'webhook')).toBe(eventDedupKey(JSON.parse(JSON.stringify(event)) as Record<string, unknown>, undefined, 'webhook'));
  });

  it('keys other events by their line', () => {
    const line = '{"type":"ref-updated","refUpdate":{"refName":"refs/heads/main"}}';
    expect(eventDedupKey(JSON.parse(line) as Record<string, unknown>, line)).toMatch(/^ref-updated:[0-9a-f]{64}$/);
  });
});
