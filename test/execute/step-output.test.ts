import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database.js';
import { STORED_OUTPUT_BYTES } from '../../src/execute/output-recorder.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { Engine, policy, queueRollout, rule, workflow } from './engine-harness.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A step program written inline: `node -e <script>`, never through a shell. */
const node = (script: string) => ['node', '-e', script];

describe.each(BACKENDS)('%s: step output stored as it comes, every attempt kept', (backend) => {
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;
  let engine: Engine | undefined;
  let dir: string;

  beforeAll(async () => {
    ({ handle, cleanup } = await openTestDatabase(backend));
    dir = tempDir('rollgate-output-');
  });
  afterAll(async () => {
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  const chunks = (rolloutId: number, stepId: string, number: number) =>
    handle.db.selectFrom('step_output').select(['offset', 'text']).where('rollout_id', '=', rolloutId).where('step_id', '=', stepId).where('number', '=', number).orderBy('id').execute();
  const stored = async (rolloutId: number, stepId: string, number: number) => (await chunks(rolloutId, stepId, number)).map((c) => c.text).join('');

  it('stores what a running step printed before the step ends', async () => {
    const go = path.join(dir, `go-${backend}`);
    const wf = workflow({
      name: 'live',
      steps: [{ id: 'deploy', run: node(`console.log('pulling image'); const f = ${JSON.stringify(go)}; const t = setInterval(() => { if (require('fs').existsSync(f)) { clearInterval(t); console.log('rolled out'); } }, 20);`) }],
    });
    const r = rule('live-prod', 'live', 'live-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1);
    await waitFor('the first line to be stored', async () => (await stored(rollout.id, 'deploy', 1)).includes('pulling image'));
    // stored while the step still runs: the page can show it now
    expect((await engine.steps(rollout.id)).deploy!.status).toBe('running');
    expect(await stored(rollout.id, 'deploy', 1)).not.toContain('rolled out');
    writeFileSync(go, '');
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');
    expect(await stored(rollout.id, 'deploy', 1)).toBe('pulling image\nrolled out\n');
    expect(existsSync(go)).toBe(true);
  });

  it('keeps every attempt of a retried step with its own output and result', async () => {
    const counter = path.join(dir, `count-${backend}`);
    const wf = workflow({
      name: 'flaky',
      steps: [
        {
          id: 'migrate',
          retry: { attempts: 3, backoff: '1s', max_backoff: '1s' },
          run: node(`const fs = require('fs'); const f = ${JSON.stringify(counter)}; const n = (fs.existsSync(f) ? Number(fs.readFileSync(f, 'utf8')) : 0) + 1; fs.writeFileSync(f, String(n)); console.log('try ' + n + ' as ROLLGATE_ATTEMPT=' + process.env.ROLLGATE_ATTEMPT); process.exit(n < 3 ? 7 : 0);`),
        },
      ],
    });
    const r = rule('flaky-prod', 'flaky', 'flaky-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1);
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');
    const attempts = await handle.db.selectFrom('step_attempts').select(['number', 'attempt', 'status', 'exit_code', 'error']).where('rollout_id', '=', rollout.id).orderBy('number').execute();
    expect(attempts).toEqual([
      { number: 1, attempt: 1, status: 'failed', exit_code: 7, error: 'exit code 7' },
      { number: 2, attempt: 2, status: 'failed', exit_code: 7, error: 'exit code 7' },
      { number: 3, attempt: 3, status: 'succeeded', exit_code: 0, error: null },
    ]);
    expect([await stored(rollout.id, 'migrate', 1), await stored(rollout.id, 'migrate', 2), await stored(rollout.id, 'migrate', 3)]).toEqual([
      'try 1 as ROLLGATE_ATTEMPT=1\n',
      'try 2 as ROLLGATE_ATTEMPT=2\n',
      'try 3 as ROLLGATE_ATTEMPT=3\n',
    ]);
  });

  it('never stores a secret, even one printed in two halves a moment apart', async () => {
    const secret = 'hunter2-very-secret-token-value';
    const wf = workflow({
      name: 'leaky',
      steps: [
        {
          id: 'deploy',
          env: { DEPLOY_TOKEN: secret },
          run: node(`const s = process.env.DEPLOY_TOKEN; process.stdout.write('token=' + s.slice(0, 10)); setTimeout(() => { process.stdout.write(s.slice(10) + ' done\\n'); process.stdout.write(Buffer.from(s).toString('base64') + '\\n'); }, 400);`),
        },
      ],
    });
    const r = rule('leaky-prod', 'leaky', 'leaky-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1);
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');
    const rows = await chunks(rollout.id, 'deploy', 1);
    expect(rows.map((c) => c.text).join('')).toBe('token=[redacted] done\n[redacted]\n');
    for (const row of rows) {
      for (const part of [secret, secret.slice(0, 10), secret.slice(10), Buffer.from(secret).toString('base64')]) expect(row.text).not.toContain(part);
    }
  });

  it('keeps the newest output of a step that prints more than the bound, and says where it starts', async () => {
    const wf = workflow({
      name: 'chatty',
      steps: [{ id: 'build', run: node(`const line = 'x'.repeat(1023) + '\\n'; let n = 0; const t = setInterval(() => { for (let i = 0; i < 256; i++) process.stdout.write(line); if (++n === 12) { clearInterval(t); console.log('last line'); } }, 5);`) }],
    });
    const r = rule('chatty-prod', 'chatty', 'chatty-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1);
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded', 30_000);
    const rows = await chunks(rollout.id, 'build', 1);
    const bytes = rows.reduce((n, c) => n + Buffer.byteLength(c.text), 0);
    // 12 MiB printed: at most the bound plus one chunk is kept, the newest, ending with the last line
    // (how much under the bound depends on how the chunks fell: a slow database writes bigger ones),
    // and at least what the page shows of an attempt
    expect(bytes).toBeLessThanOrEqual(STORED_OUTPUT_BYTES + 64 * 1024);
    expect(bytes).toBeGreaterThan(64 * 1024);
    expect(rows.at(-1)!.text.endsWith('last line\n')).toBe(true);
    expect(rows[0]!.offset).toBeGreaterThan(0);
    // offsets are contiguous from the first kept chunk
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.offset).toBe(rows[i - 1]!.offset + Buffer.byteLength(rows[i - 1]!.text));
  });
});
