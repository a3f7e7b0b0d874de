import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { Engine, policy, queueRollout, rule, run, workflow } from './engine-harness.js';

/** What a step's program is given, what of its output is kept, and how steps end that go wrong. */
describe.each(BACKENDS)('%s: what steps see and what is kept', (backend) => {
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;
  let engine: Engine | undefined;
  /** A deploy API that takes the request and never answers. */
  let silent: Server;
  let silentUrl: string;

  beforeAll(async () => {
    ({ handle, cleanup } = await openTestDatabase(backend));
    silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
    await cleanup();
  });
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  const node = (script: string) => [process.execPath, '-e', script];
  const finishedAs = async (id: number, status: string) => waitFor(`the rollout to end ${status}`, async () => (await engine!.status(id)) === status);
  const stepRow = async (rolloutId: number, stepId: string) => (await engine!.reads.steps(rolloutId)).find((s) => s.step_id === stepId)!;

  it("gives a run step rollgate's variables and the allowlisted environment, and nothing else of rollgate's", async () => {
    const wf = workflow({ name: 'env', steps: [{ id: 'show', run: node('console.log(JSON.stringify(process.env))'), env: { IMAGE: 'app:${newRev}' } }] });
    const r = rule('env-prod', 'env', 'env-prod');
    engine = new Engine(handle, policy([wf], [r]));
    // rollgate's own environment, as an operator sets it: the Gerrit password must not reach steps
    const config = loadConfig({
      PATH: process.env.PATH,
      HOME: '/home/rollgate',
      RECORD_DIR: engine.recordDir,
      ROLLGATE_STEP_ENV: 'RECORD_DIR',
      GERRIT_URL: 'http://gerrit.example',
      GERRIT_HTTP_USER: 'rollgate',
      GERRIT_HTTP_PASSWORD: 'gerrit-http-password-value',
      ROLLGATE_WEBHOOK_SECRET: 'webhook-secret-value',
      SOMETHING_ELSE: 'not allowlisted',
    });
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1, { baseEnv: config.stepEnv });
    await finishedAs(rollout.id, 'succeeded');
    const seen = JSON.parse((await stepRow(rollout.id, 'show')).output_tail!) as Record<string, string>;
    expect(seen).toEqual({
      PATH: process.env.PATH,
      HOME: '/home/rollgate',
      RECORD_DIR: engine.recordDir,
      IMAGE: `app:${rollout.new_rev}`,
      ROLLGATE_ROLLOUT_ID: String(rollout.id),
      ROLLGATE_STEP_ID: 'show',
      ROLLGATE_IDEMPOTENCY_KEY: `rollgate-${rollout.id}-show`,
      ROLLGATE_ATTEMPT: '1',
      ROLLGATE_RULE: 'env-prod',
      ROLLGATE_ENVIRONMENT: 'env-prod',
      ROLLGATE_CHANGE_PROJECT: 'payments/api',
      ROLLGATE_CHANGE_BRANCH: 'main',
      ROLLGATE_CHANGE_NUMBER: String(rollout.change_number),
      ROLLGATE_PATCHSET: '1',
      ROLLGATE_REVISION: rollout.revision,
      ROLLGATE_NEW_REV: rollout.new_rev,
      // marks every process of this attempt, so one that leaves the step's process group is still found and stopped
      ROLLGATE_STEP_INSTANCE: expect.stringMatching(/^[0-9a-f]{24}$/),
    });
  });

  it("redacts the values of a step's own secret-looking env variables from its output", async () => {
    const wf = workflow({
      name: 'own-secret',
      steps: [{ id: 'leak', run: node("console.log('key=' + process.env.DEPLOY_API_KEY + ' region=' + process.env.REGION); process.exit(3)"), env: { DEPLOY_API_KEY: 'literal-api-key-7731', REGION: 'eu-west-1' } }],
    });
    const r = rule('own-secret-prod', 'own-secret', 'own-secret-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1);
    await finishedAs(rollout.id, 'failed');
    expect((await stepRow(rollout.id, 'leak')).output_tail).toBe('key=[redacted] region=eu-west-1\n');
    const finished = (await engine.messages(rollout.id)).at(-1)!;
    expect(finished).toContain('key=[redacted] region=eu-west-1');
    expect(JSON.stringify(await engine.reads.steps(rollout.id)) + finished).not.toContain('literal-api-key-7731');
  });

  it("keeps only the last 64 KiB of a run step's output", async () => {
    const wf = workflow({ name: 'loud', steps: [{ id: 'loud', run: node("process.stdout.write('START\\n' + 'x'.repeat(200 * 1024) + '\\nEND\\n')") }] });
    const r = rule('loud-prod', 'loud', 'loud-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1);
    await finishedAs(rollout.id, 'succeeded');
    const tail = (await stepRow(rollout.id, 'loud')).output_tail!;
    // the cut is marked with an ellipsis (3 bytes in UTF-8)
    expect(Buffer.byteLength(tail)).toBe(64 * 1024 + 3);
    expect(tail.startsWith('…x')).toBe(true);
    expect(tail.endsWith('x\nEND\n')).toBe(true);
    expect(tail).not.toContain('START');
  });

  it('fails an http step that gets no answer within its timeout, and rolls back', async () => {
    const wf = workflow({
      name: 'hang',
      steps: [{ id: 'call', http: { url: `${silentUrl}/deploy` }, timeout: '300ms' }],
      rollback: [{ id: 'note', run: run('note') }],
    });
    const r = rule('hang-prod', 'hang', 'hang-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1);
    await finishedAs(rollout.id, 'rolled_back');
    const call = await stepRow(rollout.id, 'call');
    expect(call).toMatchObject({ status: 'failed', http_status: null, error: `POST ${silentUrl}/deploy: timed out after 300 ms` });
    expect(call.duration_ms).toBeLessThan(5000);
    expect((await engine.messages(rollout.id)).at(-1)).toContain(`Why: step call failed: POST ${silentUrl}/deploy: timed out after 300 ms`);
  });

  it('ends a rollout failed, not rolled back, when a rollback step itself fails, and the report says which', async () => {
    const wf = workflow({
      name: 'bad-undo',
      steps: [
        { id: 'one', run: run('one'), undo: { run: run('undo-one', { exit: 4 }) } },
        { id: 'two', needs: ['one'], run: run('two', { exit: 5 }) },
      ],
      rollback: [{ id: 'notify', run: run('notify') }],
    });
    const r = rule('bad-undo-prod', 'bad-undo', 'bad-undo-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1);
    await finishedAs(rollout.id, 'failed');
    expect(await engine.steps(rollout.id)).toMatchObject({
      one: { status: 'succeeded' },
      two: { status: 'failed', error: 'exit code 5' },
      'undo:one': { status: 'failed', error: 'exit code 4' },
      // a failed rollback step does not stop the others
      'rollback:notify': { status: 'succeeded' },
    });
    const finished = (await engine.messages(rollout.id)).at(-1)!;
    expect(finished).toContain(`rollout "bad-undo-prod" to bad-undo-prod FAILED in`);
    expect(finished).toContain('Why: step two failed: exit code 5');
    expect(finished).toMatch(/Rollback \(newest first\):\n\* undo:one: failed \(exit 4[^\n]*\n\* rollback:notify: succeeded/);
    expect(finished).toContain('Output of undo:one (last lines):\n  exit code 4\n  undo-one: failing with exit 4');
  });
});
