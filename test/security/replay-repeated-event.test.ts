import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseTarget } from '../../src/db/database.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, commentAddedEvent, mergedChange } from '../helpers/change-events.js';
import type { DoubleAccount, DoubleChange } from '../helpers/rest-gerrit-double.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const FIXTURES = path.resolve('test/fixtures');
const POLICIES = path.join(FIXTURES, 'policies');
const GROUPS_FILE = path.join(FIXTURES, 'replay', 'groups.yaml');
const tmp = tempDir('rollgate-replay-repeated-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const jsonLines = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

function vote(change: DoubleChange, who: DoubleAccount, at: number): string {
  return JSON.stringify({ ...commentAddedEvent(change, who, 'Code-Review+2'), approvals: [{ type: 'Code-Review', description: 'Code-Review', value: '2', oldValue: '0' }], eventCreatedOn: at });
}

/** An approved merge whose change-merged line is in the recording twice, byte for byte (Gerrit repeats, or two recordings joined). */
function recordingWithRepeatedMerge(number: number): { file: string; bytes: Buffer } {
  const change = mergedChange(number, bob, { commitMessage: 'Fix\n\nRollout-Justification: INC-1\n' });
  const merged = JSON.stringify({ ...changeMergedEvent(change), eventCreatedOn: 1763884900 });
  const file = path.join(mkdtempSync(path.join(tmp, 'rec-')), 'events.jsonl');
  writeFileSync(file, `${vote(change, alice, 1763884850)}\n${merged}\n${merged}\n`);
  return { file, bytes: readFileSync(file) };
}

/**
 * Attack/loss: `rollgate replay` decided an exactly repeated change-merged line twice where serve
 * stores it once, and a real replay's audit rows looked like a real merge (trigger "merge").
 */
describe('rollgate replay --dry-run of a repeated change-merged line', () => {
  it('decides it once, as serve would, and says the repeat was not decided again', async () => {
    const r = recordingWithRepeatedMerge(7100);
    const out = await runCli(['replay', r.file, '--dry-run', '--policies', POLICIES, '--groups', GROUPS_FILE]);
    expect(out.code).toBe(0);
    expect(jsonLines(out.stdout).map((l) => [l.change, l.decision])).toEqual([[7100, 'allow']]);
    expect(out.stderr).toBe('line 3: the same event as line 2; not decided again\n');
  });
});

describe.each(BACKENDS)('%s: rollgate replay (rollouts run) of a repeated change-merged line', (backend) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let target: DatabaseTarget;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    const dir = mkdtempSync(path.join(tmp, 'run-'));
    const recordDir = path.join(dir, 'record');
    mkdirSync(recordDir);
    const dataDir = path.join(dir, 'data');
    target = database.url ? { kind: 'postgres', url: database.url } : { kind: 'pglite', dataDir };
    env = {
      ...(database.url ? { DATABASE_URL: database.url } : { ROLLGATE_DATA_DIR: dataDir }),
      ROLLGATE_WORK_DIR: FIXTURES,
      ROLLGATE_STEP_ENV: 'RECORD_DIR',
      RECORD_DIR: recordDir,
    };
  });
  afterAll(async () => database?.drop());

  it('decides and runs it once, and audits the decision as a replay of that file, by its sha256', async () => {
    const r = recordingWithRepeatedMerge(7200);
    const out = await runCli(['replay', r.file, '--policies', POLICIES, '--groups', GROUPS_FILE], env);
    expect(out.code).toBe(0);
    const lines = jsonLines(out.stdout);
    expect(lines.filter((l) => l.kind === 'decision').map((l) => [l.change, l.decision])).toEqual([[7200, 'allow']]);
    expect(lines.filter((l) => l.kind === 'rollout').map((l) => [l.change, l.status])).toEqual([[7200, 'succeeded']]);
    expect(out.stderr).toContain('line 3: the same event as line 2; not decided again\n');

    const handle = await createDatabase(target);
    try {
      const rollouts = await handle.db.selectFrom('rollouts').select(['id']).where('change_number', '=', 7200).execute();
      expect(rollouts).toHaveLength(1);
      const decisions = await handle.db.selectFrom('audit_log').select(['summary', 'data']).where('kind', '=', 'decision').where('change_number', '=', 7200).execute();
      expect(decisions).toHaveLength(1);
      const data = (typeof decisions[0]!.data === 'string' ? JSON.parse(decisions[0]!.data) : decisions[0]!.data) as Record<string, any>;
      expect(data.trigger).toBe('replay');
      expect(data.replay).toEqual({ file: r.file, sha256: createHash('sha256').update(r.bytes).digest('hex'), line: 2 });
      expect(decisions[0]!.summary).toContain('(replay)');
      // the lines went through the intake as serve's do: stored once each, as decided by the replay
      const events = await handle.db.selectFrom('events').select(['source', 'type', 'status']).orderBy('id').execute();
      expect(events).toEqual([
        { source: 'replay', type: 'comment-added', status: 'processed' },
        { source: 'replay', type: 'change-merged', status: 'processed' },
      ]);
    } finally {
      await handle.close();
    }
  }, 90_000);
});
