import { parseEventLine } from '../gerrit/gerrit-event.js';
import { Intake } from '../intake/intake.js';
import { silentLogger } from '../log.js';
import type { EventStore } from '../rollouts/event-store.js';
import { EventReplay, VoteDeletedEventSchema, type ReplayStep } from './replay-events.js';

/** A line read as an event, and how to apply it to the replay once it is known to be new. */
export function readLine(line: string): { kind: 'bad'; problem: string } | { kind: 'ok'; apply: (replay: EventReplay) => ReplayStep[] } {
  const parsed = parseEventLine(line);
  if (parsed.kind === 'invalid') return { kind: 'bad', problem: parsed.reason };
  if (parsed.kind === 'event') return { kind: 'ok', apply: (replay) => replay.apply(parsed.event, parsed.value, new Date()) };
  if (parsed.type === 'vote-deleted') {
    const deleted = VoteDeletedEventSchema.safeParse(parsed.value);
    if (!deleted.success) return { kind: 'bad', problem: `vote-deleted event: ${deleted.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
    return { kind: 'ok', apply: (replay) => replay.apply(deleted.data, parsed.value, new Date()) };
  }
  return { kind: 'ok', apply: () => [] }; // other event types do not bear on decisions
}

/**
 * serve's intake (same rows, same dedup keys) for the replayed lines. With a database, the lines
 * are stored in its `events` table; an event this replay decides is stored as processed, by the
 * replay, so serve's decide loop never decides it a second time from Gerrit. A dry run writes no
 * database: the keys are kept in memory, so a repeat within the file is still found.
 */
export function replayIntake(events: EventStore | undefined, recording: { file: string; sha256: string }): Intake {
  const seen = new Set<string>();
  const inMemory: Pick<EventStore, 'insertNew'> = {
    insertNew: async (rows) => {
      const fresh = new Set(rows.map((r) => r.dedup_key).filter((key) => !seen.has(key)));
      for (const key of fresh) seen.add(key);
      return fresh;
    },
  };
  const decidedHere: Pick<EventStore, 'insertNew'> | undefined = events && {
    insertNew: (rows) =>
      events.insertNew(
        rows.map((r) => (r.status === 'pending' ? { ...r, status: 'processed', reason: `decided by rollgate replay of ${recording.file} (sha256 ${recording.sha256})`, processed_at: r.received_at } : r)),
      ),
  };
  return new Intake({ store: decidedHere ?? inMemory, logger: silentLogger(), settleMs: 0, onStored: () => {} });
}
