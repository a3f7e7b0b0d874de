import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bob, changeMergedEvent, mergedChange } from '../helpers/change-events.js';
import { spawnCliThroughPipe } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const FIXTURES = path.resolve('test/fixtures');
const dir = tempDir('rollgate-piped-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Attack/loss: `rollgate replay … | cat` stopped at the pipe's buffer size because the command
 * called process.exit() while stdout still held unwritten output. Here the reader of the pipe is
 * slow on purpose: nothing is read until well after the command has written everything.
 */
describe('a command piped into a slow reader', () => {
  it('delivers every byte it wrote before it exits', async () => {
    const merges = 4000;
    const lines = Array.from({ length: merges }, (_, i) => JSON.stringify(changeMergedEvent(mergedChange(20_000 + i, bob, { project: 'no/rule' }))));
    const file = path.join(dir, 'events.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);

    const child = spawnCliThroughPipe(['replay', file, '--dry-run', '--policies', path.join(FIXTURES, 'policies'), '--groups', path.join(FIXTURES, 'replay', 'groups.yaml')]);
    child.stdout.pause();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    // far longer than the command needs to write its output into a full pipe and give up
    await new Promise((r) => setTimeout(r, 4000));
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stdout.resume();
    const { code, signal } = await closed;
    const out = Buffer.concat(chunks).toString();
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const printed = out.trim().split('\n');
    expect(printed).toHaveLength(merges);
    expect(JSON.parse(printed.at(-1)!)).toMatchObject({ kind: 'decision', change: 20_000 + merges - 1, decision: 'ignore' });
    expect(out.length).toBeGreaterThan(256 * 1024);
  }, 60_000);
});
