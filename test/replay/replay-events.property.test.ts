import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateChange } from '../../src/policy/evaluate-change.js';
import { RolloutRuleSchema, type Policy } from '../../src/policy/policy-config.js';
import { EventReplay, type ReplayStep } from '../../src/replay/replay-events.js';
import type { RoleGrant } from '../../src/policy/roles.js';
import { parseEventLine } from '../../src/gerrit/gerrit-event.js';
import { alice, bob, carol, changeMergedEvent, commentAddedEvent, mergedChange } from '../helpers/change-events.js';
import type { DoubleAccount } from '../helpers/rest-gerrit-double.js';

/**
 * Votes given on an earlier patch set are stale: Gerrit shows them on that patch set only, and
 * the replay of recorded events keeps votes per patch set. Whatever was voted on which patch set,
 * a merge is never allowed on votes that were not given on the merged patch set itself.
 * (`serve` reads the current revision's labels over REST; the replay is where events are sorted
 * into patch sets, so that is where this is checked.)
 */
const policy: Policy = {
  version: 'test',
  roles: { 'prod-deployer': ['sre'] },
  idpRoles: {},
  auditReaders: undefined,
  workflows: {},
  rollouts: [RolloutRuleSchema.parse({ name: 'api', match: { project: 'payments/api', branch: 'main' }, workflow: 'w', environment: 'e', approval: { roles: ['prod-deployer'] } })],
};
const voters: DoubleAccount[] = [alice, carol, bob];

const scenario = fc.record({
  merged: fc.integer({ min: 1, max: 3 }),
  votes: fc.array(fc.record({ who: fc.constantFrom(...voters), patchSet: fc.integer({ min: 1, max: 3 }), value: fc.integer({ min: -2, max: 2 }) }), { maxLength: 10 }),
});

function feed(replay: EventReplay, event: Record<string, unknown>): ReplayStep[] {
  const parsed = parseEventLine(JSON.stringify(event));
  if (parsed.kind !== 'event') throw new Error(`not an event: ${JSON.stringify(parsed)}`);
  return replay.apply(parsed.event, parsed.value, new Date('2026-01-05T12:00:00Z'));
}

describe('EventReplay (properties)', () => {
  it('never allows on a vote given on a patch set other than the merged one', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const change = mergedChange(900, bob, { patchSet: s.merged });
        const replay = new EventReplay();
        for (const v of s.votes) {
          const e = commentAddedEvent(change, v.who, 'review') as Record<string, any>;
          feed(replay, { ...e, patchSet: { ...e.patchSet, number: v.patchSet }, approvals: [{ type: 'Code-Review', value: String(v.value) }] });
        }
        const step = feed(replay, changeMergedEvent(change)).find((x) => x.kind === 'merged');
        if (step?.kind !== 'merged') throw new Error('no merged step');
        // everyone but the owner holds the role: only the patch set a vote was given on can stop it
        const rolesByAccount = new Map<number, readonly RoleGrant[]>();
        for (const votes of Object.values(step.change.votes)) for (const v of votes) rolesByAccount.set(v.account.accountId, [{ role: 'prod-deployer', via: 'sre' }]);
        const [decision] = evaluateChange({ policy, change: step.change, rolesByAccount, at: new Date('2026-01-05T12:00:00Z') });

        // the latest vote of each person on the merged patch set is all that may count
        const latestOnMerged = new Map<string, number>();
        for (const v of s.votes) if (v.patchSet === s.merged) latestOnMerged.set(v.who.username!, v.value);
        for (const v of step.change.votes['Code-Review'] ?? []) expect(latestOnMerged.get(v.account.username!)).toBe(v.value);
        if (decision!.result.outcome === 'allow') {
          const counted = [...latestOnMerged].filter(([who, value]) => who !== 'bob' && value >= 2);
          expect(counted.length, 'an allow needs a +2 given on the merged patch set').toBeGreaterThan(0);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
