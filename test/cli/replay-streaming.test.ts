import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReplayProgress } from '../../src/replay/replay-progress.js';
import { alice, bob, changeMergedEvent, commentAddedEvent, mergedChange } from '../helpers/change-events.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const FIXTURES = path.resolve('test/fixtures');
const ARGS = ['--dry-run', '--policies', path.join(FIXTURES, 'policies'), '--groups', path.join(FIXTURES, 'replay', 'groups.yaml')];

/**
 * A recording larger than a read chunk (64 KiB) several times over: CRLF line ends, non-ASCII
 * text, an event with a lone "\r" between its JSON tokens (one line, as `split('\n')` reads it;
 * node:readline would cut it in two), a blank line and an approved merge at the end.
 */
function bigRecording(): { file: string; lines: number } {
  const change = mergedChange(5101, bob, { commitMessage: 'Fix café checkout\n\nRollout-Justification: fixes INC-7\n' });
  const vote = { ...commentAddedEvent(change, alice, 'Code-Review+2 — ça marche'), approvals: [{ type: 'Code-Review', description: 'Code-Review', value: '2' }], eventCreatedOn: 1763884850 };
  const filler = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ type: 'ref-updated', refUpdate: { project: 'x', refName: `refs/heads/é-${i}`, oldRev: 'a'.repeat(40), newRev: 'b'.repeat(40) }, eventCreatedOn: 1763884000 + i }));
  const lines = [...filler, JSON.stringify(vote).replace('{"type"', '{\r"type"'), '', JSON.stringify({ ...changeMergedEvent(change), eventCreatedOn: 1763884900 })];
  const text = `${lines.join('\r\n')}\r\n`;
  const file = path.join(tempDir('rollgate-replay-stream-'), 'events.jsonl');
  writeFileSync(file, text);
  return { file, lines: lines.length };
}

describe('rollgate replay on a large recording', () => {
  it('decides it line by line as before, prints progress on stderr only with --progress, and the same decisions either way', async () => {
    const r = bigRecording();
    const [quiet, progress] = await Promise.all([runCli(['replay', r.file, ...ARGS]), runCli(['replay', r.file, ...ARGS, '--progress'])]);
    expect(quiet).toMatchObject({ code: 0, stderr: '' });
    const decisions = quiet.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(decisions.map((d) => [d.change, d.decision])).toEqual([[5101, 'allow']]);
    expect(decisions[0]!.reasons).toEqual(['alice (prod-deployer via sre) approved with Code-Review +2', 'justification: fixes INC-7']);

    expect(progress.code).toBe(0);
    expect(progress.stdout).toBe(quiet.stdout);
    const stderr = progress.stderr.trim().split('\n');
    for (const line of stderr.slice(0, -1)) expect(line).toMatch(/^replay: \d+ lines read \(\d+% of the file\), \d+ events, \d+ events\/s$/);
    // the blank line is read but holds no event
    expect(stderr.at(-1)).toMatch(new RegExp(`^replay: done: ${r.lines} lines read, ${r.lines - 1} events in \\d+\\.\\d s, \\d+ events/s$`));
  });
});

describe('ReplayProgress', () => {
  it('prints at most once a second while reading, and once at the end', () => {
    let now = 10_000;
    const printed: string[] = [];
    const progress = new ReplayProgress(1000, (line) => printed.push(line), () => now);
    for (let i = 0; i < 30; i++) {
      progress.read(10);
      progress.line(i % 3 !== 0);
      now += 100; // ten lines a second
    }
    progress.end();
    expect(printed).toEqual([
      'replay: 11 lines read (11% of the file), 7 events, 7 events/s\n',
      'replay: 21 lines read (21% of the file), 14 events, 7 events/s\n',
      'replay: done: 30 lines read, 20 events in 3.0 s, 7 events/s\n',
    ]);
  });
});
