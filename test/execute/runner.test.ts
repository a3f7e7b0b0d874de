import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database.js';
import type { RolloutRow } from '../../src/db/schema.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { RolloutLeaseStore } from '../../src/rollouts/rollout-lease-store.js';
import { RolloutReads } from '../../src/rollouts/rollout-reads.js';
import { StepStore } from '../../src/rollouts/step-store.js';
import { Engine, policy, queueRollout, rule, run, workflow } from './engine-harness.js';
import { alive } from '../helpers/process-alive.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A loopback HTTP server standing in for a deploy API: records requests, answers as told. */
interface Target {
  readonly url: string;
  readonly requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  answer: (url: string) => { status: number; body: string };
}

async function startTarget(): Promise<Target & { server: Server }> {
  const target = {
    url: '',
    requests: [] as Target['requests'],
    answer: (_url: string) => ({ status: 200, body: '{"ok":true}' }),
    server: undefined as unknown as Server,
  };
  target.server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      target.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const a = target.answer(req.url!);
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
    });
  });
  await new Promise<void>((r) => target.server.listen(0, '127.0.0.1', () => r()));
  target.url = `http://127.0.0.1:${(target.server.address() as AddressInfo).port}`;
  return target;
}

describe.each(BACKENDS)('%s: the workflow engine', (backend) => {
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;
  let engine: Engine | undefined;
  let target: Awaited<ReturnType<typeof startTarget>>;

  // one database for the suite: every test uses its own environments and ends its rollouts
  beforeAll(async () => {
    target = await startTarget();
    ({ handle, cleanup } = await openTestDatabase(backend));
  });
  afterAll(async () => {
    await new Promise((r) => target.server.close(r));
    await cleanup();
  });
  beforeEach(() => {
    target.requests.length = 0;
    target.answer = () => ({ status: 200, body: '{"ok":true}' });
  });
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  it('runs a DAG in dependency order, independent steps in parallel, up to max_parallel', async () => {
    const wf = workflow({
      name: 'dag',
      max_parallel: 2,
      steps: [
        { id: 'build', run: run('build') },
        { id: 'a', needs: ['build'], run: run('a', { sleep: 1000 }) },
        { id: 'b', needs: ['build'], run: run('b', { sleep: 1000 }) },
        { id: 'c', needs: ['build'], run: run('c', { sleep: 1000 }) },
        { id: 'done', needs: ['a', 'b', 'c'], run: run('done') },
      ],
    });
    const r = rule('dag-prod', 'dag', 'dag-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');

    const calls = engine.calls();
    const at = (name: string, event: string) => calls.find((c) => c.name === name && c.event === event)!.t;
    // build before everything; done after all three
    for (const n of ['a', 'b', 'c']) expect(at(n, 'start')).toBeGreaterThanOrEqual(at('build', 'end'));
    for (const n of ['a', 'b', 'c']) expect(at('done', 'start')).toBeGreaterThanOrEqual(at(n, 'end'));
    // never more than two of a, b, c at once, and at least two overlapped
    const spans = ['a', 'b', 'c'].map((n) => [at(n, 'start'), at(n, 'end')] as const);
    const overlapAt = (t: number) => spans.filter(([s, e]) => s <= t && t < e).length;
    expect(Math.max(...spans.map(([s]) => overlapAt(s)))).toBe(2);
    const messages = await engine.messages(rollout.id);
    expect(messages[0]).toContain('STARTED');
    expect(messages.at(-1)).toContain('SUCCEEDED');
    expect(messages.at(-1)).toContain('* done: succeeded (exit 0');
  });

  it('retries a failing step with backoff and then succeeds', async () => {
    const wf = workflow({
      name: 'flaky',
      steps: [{ id: 'deploy', run: run('deploy', { 'fail-first': 2 }), retry: { attempts: 3, backoff: '50ms' } }],
    });
    const r = rule('flaky-prod', 'flaky', 'flaky-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');
    expect((await engine.steps(rollout.id)).deploy).toMatchObject({ status: 'succeeded', attempts: 3 });
    const starts = engine.calls().filter((c) => c.event === 'start');
    expect(starts.map((c) => c.attempt)).toEqual(['1', '2', '3']);
    // one idempotency key for every attempt of the step
    expect(new Set(starts.map((c) => c.key))).toEqual(new Set([`rollgate-${rollout.id}-deploy`]));
    expect((await engine.messages(rollout.id)).at(-1)).toContain('* deploy: succeeded (exit 0');
    // every attempt is in the audit trail, and the end once, with its exit code and duration
    expect(await engine.audit(rollout.id)).toEqual([
      'step-started deploy: step deploy started (run, attempt 1)',
      'step-started deploy: step deploy started (run, attempt 2)',
      'step-started deploy: step deploy started (run, attempt 3)',
      expect.stringMatching(/^step-finished deploy: step deploy succeeded \(exit 0, [\d.]+m?s, 3 attempts\)$/),
    ]);
  });

  it('fails a step that asks for credentials.oidc while OIDC is not configured, saying so', async () => {
    const wf = workflow({ name: 'creds', steps: [{ id: 'deploy', run: run('deploy'), credentials: { oidc: { audience: 'https://deployer.example/api' } } }] });
    const r = rule('creds-prod', 'creds', 'creds-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the rollout to fail', async () => (await engine!.status(rollout.id)) === 'failed');
    expect((await engine.steps(rollout.id)).deploy).toMatchObject({
      status: 'failed',
      error: 'this step asks for credentials.oidc, but OIDC is not configured (set ROLLGATE_OIDC_ISSUER, ROLLGATE_OIDC_CLIENT_ID and the client secret)',
    });
    expect(engine.calls()).toEqual([]);
  });

  it('kills the whole process group when a step times out, then fails the rollout', async () => {
    const marker = path.join(tempDir('rollgate-gc-'), 'grandchild-survived');
    const wf = workflow({ name: 'slow', steps: [{ id: 'hang', run: run('hang', { grandchild: marker, sleep: 60_000 }), timeout: '2s' }] });
    const r = rule('slow-prod', 'slow', 'slow-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the rollout to fail', async () => (await engine!.status(rollout.id)) === 'failed');
    const step = (await engine.steps(rollout.id)).hang!;
    expect(step.status).toBe('failed');
    expect(step.error).toContain('timed out after 2000 ms');
    const finished = (await engine.messages(rollout.id)).at(-1)!;
    expect(finished).toContain('FAILED');
    expect(finished).toContain('Rollback: nothing ran');
    // the grandchild (which would write its file after 10 s) is gone with its group
    const grandchild = Number(engine.calls().find((c) => c.event === 'grandchild')!.args[0]);
    await waitFor('the grandchild to be killed', () => !alive(grandchild));
    expect(existsSync(marker)).toBe(false);
  });

  it('on a failure, undoes completed steps newest first, then runs the rollback steps, and reports what ran', async () => {
    const wf = workflow({
      name: 'undo',
      steps: [
        { id: 'one', run: run('one'), undo: { run: run('undo-one') } },
        { id: 'two', needs: ['one'], run: run('two'), undo: { run: run('undo-two') } },
        { id: 'side', needs: ['one'], run: run('side', { sleep: 300 }) },
        { id: 'three', needs: ['two'], run: run('three', { exit: 7 }), undo: { run: run('undo-three') } },
        { id: 'four', needs: ['three'], run: run('four') },
      ],
      rollback: [{ id: 'notify', run: run('notify') }],
    });
    const r = rule('undo-prod', 'undo', 'undo-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the rollout to be rolled back', async () => (await engine!.status(rollout.id)) === 'rolled_back');
    const ran = engine.calls().filter((c) => c.event === 'start').map((c) => c.name);
    expect(ran.slice(-3)).toEqual(['undo-two', 'undo-one', 'notify']);
    expect(ran).not.toContain('four');
    expect(ran).not.toContain('undo-three');
    const steps = await engine.steps(rollout.id);
    expect(steps.three).toMatchObject({ status: 'failed', error: 'exit code 7' });
    expect(steps.four).toMatchObject({ status: 'skipped', note: 'needs three, which failed' });
    expect(steps['undo:two']!.status).toBe('succeeded');
    const row = (await engine.reads.get(rollout.id))!;
    expect(row.outcome).toBe('step three failed: exit code 7');
    const finished = (await engine.messages(rollout.id)).at(-1)!;
    expect(finished).toContain('ROLLED BACK');
    expect(finished).toContain('Why: step three failed: exit code 7');
    expect(finished).toMatch(/Rollback \(newest first\):\n\* undo:two: succeeded[^\n]*\n\* undo:one: succeeded[^\n]*\n\* rollback:notify: succeeded/);
    expect(finished).toContain('three: failing with exit 7');
  });

  it('passes change data as literal argv elements and JSON string values, never through a shell', async () => {
    const hostile = '$(touch /tmp/rollgate-engine-pwned); rm -rf ~ `id` "q" \\ ${HOME}';
    const wf = workflow({
      name: 'literal',
      steps: [
        { id: 'argv', run: run('argv', {}, ['${change.subject}', 'x${change.subject}y']) },
        {
          id: 'notify',
          needs: ['argv'],
          http: { method: 'POST', url: `${target.url}/deploy/\${change.number}?subject=\${change.subject}`, headers: { 'X-Rev': '${newRev}' }, json: { subject: '${change.subject}', nested: ['${change.number}', 5, true], '${change.subject}': 'key stays' } },
        },
      ],
    });
    const r = rule('literal-prod', 'literal', 'literal-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r, { subject: hostile });
    engine.start();
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');
    expect(engine.calls().find((c) => c.name === 'argv')!.args).toEqual([hostile, `x${hostile}y`]);
    expect(existsSync('/tmp/rollgate-engine-pwned')).toBe(false);
    const req = target.requests[0]!;
    // the subject stays one query value: its `/`, `;`, quotes and spaces are percent-encoded
    expect(req.url).toBe(`/deploy/${rollout.change_number}?subject=${encodeURIComponent(hostile)}`);
    expect(new URL(req.url, 'http://x').searchParams.get('subject')).toBe(hostile);
    expect(req.headers['x-rev']).toBe(rollout.revision);
    expect(req.headers['idempotency-key']).toBe(`rollgate-${rollout.id}-notify`);
    expect(JSON.parse(req.body)).toEqual({ subject: hostile, nested: [String(rollout.change_number), 5, true], '${change.subject}': 'key stays' });
  });

  it('stores an http step status and a bounded body excerpt, and fails on an unexpected status', async () => {
    target.answer = (url) => (url === '/health' ? { status: 200, body: 'x'.repeat(100_000) } : { status: 503, body: '{"error":"deployer busy"}' });
    const wf = workflow({
      name: 'http',
      steps: [
        { id: 'health', http: { method: 'GET', url: `${target.url}/health` } },
        { id: 'canary', needs: ['health'], http: { url: `${target.url}/canary`, expect: [200, 201] }, retry: { attempts: 2, backoff: '10ms' } },
      ],
    });
    const r = rule('http-prod', 'http', 'http-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the rollout to fail', async () => (await engine!.status(rollout.id)) === 'failed');
    const rows = await engine.reads.steps(rollout.id);
    const health = rows.find((s) => s.step_id === 'health')!;
    expect(health.http_status).toBe(200);
    expect(Buffer.byteLength(health.output_tail!)).toBeLessThanOrEqual(4 * 1024 + 3);
    const canary = rows.find((s) => s.step_id === 'canary')!;
    expect(canary).toMatchObject({ status: 'failed', http_status: 503, attempts: 2, output_tail: '{"error":"deployer busy"}' });
    expect(canary.error).toBe(`POST ${target.url}/canary answered 503, expected 200 or 201`);
    expect((await engine.messages(rollout.id)).at(-1)).toMatch(/\* canary: failed \(HTTP 503, \d+ms, 2 attempts\)/);
  });

  it('redacts secrets from stored output and messages', async () => {
    const wf = workflow({
      name: 'secret',
      steps: [{ id: 'leak', run: ['/usr/bin/env', 'node', '-e', 'console.log("token=" + process.env.DEPLOY_TOKEN + " pw=" + process.argv[1]); process.exit(2)', '${env.DEPLOY_TOKEN}'] }],
    });
    const r = rule('secret-prod', 'secret', 'secret-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start(1, { baseEnv: { PATH: process.env.PATH ?? '', DEPLOY_TOKEN: 's3cr3t-token-value' }, secrets: ['gerrit-http-password'] });
    await waitFor('the rollout to fail', async () => (await engine!.status(rollout.id)) === 'failed');
    const leak = (await engine.reads.steps(rollout.id))[0]!;
    expect(leak.output_tail).toContain('token=[redacted] pw=[redacted]');
    const all = JSON.stringify(await engine.reads.steps(rollout.id)) + (await engine.messages(rollout.id)).join('\n');
    expect(all).not.toContain('s3cr3t-token-value');
    expect(await engine.audit(rollout.id)).toEqual(['step-started leak: step leak started (run, attempt 1)', expect.stringMatching(/^step-finished leak: step leak failed \(exit 2, [\d.]+m?s\): exit code 2$/)]);
    expect(JSON.stringify(await engine.db.selectFrom('audit_log').selectAll().execute())).not.toContain('s3cr3t-token-value');
  });

  it('waits at an approval gate: the wrong role is refused, the right one lets it go on', async () => {
    const wf = workflow({
      name: 'gated',
      steps: [
        { id: 'canary', run: run('canary') },
        { id: 'promote', needs: ['canary'], approval: { roles: ['prod-deployer'], timeout: '1h' } },
        { id: 'soak', needs: ['promote'], wait: '200ms' },
        { id: 'full', needs: ['soak'], run: run('full') },
      ],
    });
    const r = rule('gated-prod', 'gated', 'gated-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the rollout to park at the gate', async () => (await engine!.status(rollout.id)) === 'waiting');
    expect((await engine.store.waitingForChange('payments/api', rollout.change_number)).map((w) => w.id)).toEqual([rollout.id]);
    expect((await engine.messages(rollout.id)).at(-1)).toContain('WAITING FOR APPROVAL at step promote');

    const { approveGate } = await import('../../src/actions/operations.js');
    const carol = await approveGate(engine.operations(), rollout.id, { accountId: 3, username: 'carol', roles: ['staging-deployer'], relation: 'other' }, 'ship it');
    expect(carol).toEqual({ ok: false, forbidden: true, message: expect.stringContaining('step promote needs one of the roles prod-deployer; carol holds staging-deployer') });
    // two approvals at once: one passes the gate, the other is told it no longer waits
    const [a, b] = await Promise.all([
      approveGate(engine.operations(), rollout.id, { accountId: 1, username: 'alice', roles: ['prod-deployer'], relation: 'other' }, 'canary is green'),
      approveGate(engine.operations(), rollout.id, { accountId: 4, username: 'dave', roles: ['prod-deployer'], relation: 'other' }, 'me too'),
    ]);
    expect([a.ok, b.ok].sort()).toEqual([false, true]);
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded');
    const steps = await engine.steps(rollout.id);
    expect(steps.promote!.note).toMatch(/^approved by (alice|dave) \(prod-deployer\): /);
    expect(steps.soak!.status).toBe('succeeded');
    expect(engine.calls().filter((c) => c.event === 'start').map((c) => c.name)).toEqual(['canary', 'full']);
    // each step started once: a wait that parks its rollout and goes on after a new claim is one attempt
    const attempts = await engine.db.selectFrom('step_attempts').select(['step_id', 'number', 'status']).where('rollout_id', '=', rollout.id).orderBy('step_id').orderBy('number').execute();
    expect(attempts.map((a) => `${a.step_id}#${a.number} ${a.status}`)).toEqual(['canary#1 succeeded', 'full#1 succeeded', 'soak#1 succeeded']);
  });

  it('fails and rolls back when nobody approves a gate in time', async () => {
    const wf = workflow({
      name: 'unapproved',
      steps: [
        { id: 'canary', run: run('canary'), undo: { run: run('undo-canary') } },
        { id: 'promote', needs: ['canary'], approval: { roles: ['prod-deployer'], timeout: '300ms' } },
      ],
    });
    const r = rule('unapproved-prod', 'unapproved', 'unapproved-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the rollout to be rolled back', async () => (await engine!.status(rollout.id)) === 'rolled_back');
    expect((await engine.steps(rollout.id)).promote).toMatchObject({ status: 'failed', error: 'no approval by prod-deployer within 300ms' });
    expect(engine.calls().filter((c) => c.event === 'start').map((c) => c.name)).toEqual(['canary', 'undo-canary']);
    expect((await engine.audit(rollout.id)).map((a) => a.replace(/ until \S+$/, '').replace(/ \(exit 0, .*\)$/, ''))).toEqual([
      'step-started canary: step canary started (run, attempt 1)',
      'step-finished canary: step canary succeeded',
      'step-started promote: step promote started: waiting for approval by prod-deployer',
      'step-finished promote: step promote failed: no approval by prod-deployer within 300ms',
      'step-started undo:canary: step undo:canary started (run, attempt 1)',
      'step-finished undo:canary: step undo:canary succeeded',
    ]);
  });

  it('stops at the workflow timeout, marks the running step, and rolls back', async () => {
    const wf = workflow({
      name: 'long',
      timeout: '500ms',
      steps: [{ id: 'forever', run: run('forever', { sleep: 60_000 }) }],
      rollback: [{ id: 'revert', run: run('revert') }],
    });
    const r = rule('long-prod', 'long', 'long-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the rollout to be rolled back', async () => (await engine!.status(rollout.id)) === 'rolled_back');
    expect((await engine.reads.get(rollout.id))!.outcome).toBe('the workflow timed out after 500ms');
    expect((await engine.steps(rollout.id)).forever).toMatchObject({ status: 'failed' });
  });

  it('runs one rollout per environment at a time, in merge order (serial)', async () => {
    const wf = workflow({ name: 'serial', steps: [{ id: 'deploy', run: run('deploy', { sleep: 150 }, ['${change.number}']) }] });
    const prod = rule('serial-prod', 'serial', 'serial-prod');
    const staging = rule('serial-staging', 'serial', 'staging');
    engine = new Engine(handle, policy([wf], [prod, staging]));
    const p = [await queueRollout(engine.store, wf, prod), await queueRollout(engine.store, wf, prod), await queueRollout(engine.store, wf, prod)];
    const s = await queueRollout(engine.store, wf, staging);
    engine.start(4);
    engine.start(4);
    await waitFor('all to succeed', async () => (await Promise.all([...p, s].map((r) => engine!.status(r.id)))).every((x) => x === 'succeeded'));
    const calls = engine.calls();
    const prodCalls = calls.filter((c) => p.some((r) => String(r.change_number) === c.args[0]));
    // prod: strictly one after another, in merge order
    expect(prodCalls.map((c) => `${c.event}:${c.args[0]}`)).toEqual(p.flatMap((r) => [`start:${r.change_number}`, `end:${r.change_number}`]));
    // staging did not wait for prod
    const stagingStart = calls.find((c) => c.args[0] === String(s.change_number) && c.event === 'start')!.t;
    expect(stagingStart).toBeLessThan(prodCalls.at(-1)!.t);
  });

  it('supersedes queued older merges of a supersede rule and reports them', async () => {
    const wf = workflow({ name: 'super', steps: [{ id: 'deploy', run: run('deploy', { sleep: 1000 }, ['${change.number}']) }] });
    const r = rule('super-prod', 'super', 'super-prod', 'supersede');
    engine = new Engine(handle, policy([wf], [r]));
    const first = await queueRollout(engine.store, wf, r);
    engine.start();
    await waitFor('the first to start', () => engine!.calls().some((c) => c.event === 'start'));
    const second = await queueRollout(engine.store, wf, r);
    const third = await queueRollout(engine.store, wf, r);
    await waitFor('the third to succeed', async () => (await engine!.status(third.id)) === 'succeeded');
    expect(await engine.status(first.id)).toBe('succeeded');
    const skipped = (await engine.reads.get(second.id))!;
    expect(skipped).toMatchObject({ status: 'superseded', superseded_by: third.id });
    expect(engine.calls().filter((c) => c.event === 'start').map((c) => c.args[0])).toEqual([String(first.change_number), String(third.change_number)]);
    expect(await engine.messages(second.id)).toEqual([expect.stringContaining(`was SUPERSEDED before it started (rollout #${second.id})`)]);
  });

  it('two workers on one database run every rollout exactly once', async () => {
    const wf = workflow({ name: 'many', steps: [{ id: 'a', run: run('a', {}, ['${change.number}']) }, { id: 'b', needs: ['a'], run: run('b', {}, ['${change.number}']) }] });
    const rules = ['e1', 'e2', 'e3'].map((env) => rule(`many-${env}`, 'many', env));
    engine = new Engine(handle, policy([wf], rules));
    const rollouts: RolloutRow[] = [];
    for (let i = 0; i < 9; i++) rollouts.push(await queueRollout(engine.store, wf, rules[i % 3]!));
    engine.start(3);
    engine.start(3);
    await waitFor('all to succeed', async () => (await Promise.all(rollouts.map((r) => engine!.status(r.id)))).every((x) => x === 'succeeded'), 30_000);
    const starts = engine.calls().filter((c) => c.event === 'start');
    expect(starts).toHaveLength(18);
    expect(new Set(starts.map((c) => `${c.name}:${c.args[0]}`)).size).toBe(18);
  });

  it('a rollout claimed while a heartbeat is on its way is not taken for lost: its step runs once', async () => {
    const wf = workflow({ name: 'beat', steps: [{ id: 'work', run: run('work', { sleep: 600 }, ['${change.number}']) }] });
    const rules = ['beat-1', 'beat-2'].map((env) => rule(`beat-${env}`, 'beat', env));
    engine = new Engine(handle, policy([wf], rules));
    const first = await queueRollout(engine.store, wf, rules[0]!);
    // a heartbeat whose answer comes back late: it asked before the second rollout was claimed
    const leases = new RolloutLeaseStore(engine.db);
    let holdAnswer: Promise<void> | undefined;
    let asked: () => void = () => {};
    const heartbeatAsked = new Promise<void>((r) => (asked = r));
    const heartbeat = async (workerId: string, leaseMs: number) => {
      const answer = await leases.heartbeat(workerId, leaseMs);
      if (holdAnswer) {
        asked();
        await holdAnswer;
      }
      return answer;
    };
    const slow = new Proxy(leases, {
      get: (target, prop) => {
        if (prop === 'heartbeat') return heartbeat;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const runner = engine.runner({ leases: slow, leaseMs: 60_000, pollMs: 60_000 });
    const firstRun = runner.runNext();
    await waitFor('the first rollout to run', () => engine!.calls().some((c) => c.name === 'work' && c.args[0] === String(first.change_number)));
    let release: () => void = () => {};
    holdAnswer = new Promise<void>((r) => (release = r));
    runner.wake(); // a heartbeat now, held after its query
    await heartbeatAsked;
    const second = await queueRollout(engine.store, wf, rules[1]!);
    const secondRun = runner.runNext();
    await waitFor('the second rollout to run', () => engine!.calls().some((c) => c.name === 'work' && c.args[0] === String(second.change_number)));
    holdAnswer = undefined;
    release();
    expect(await Promise.all([firstRun, secondRun])).toEqual([true, true]);
    expect(await engine.status(second.id)).toBe('succeeded');
    const attempts = await engine.db.selectFrom('step_attempts').select(['number', 'status']).where('rollout_id', '=', second.id).execute();
    expect(attempts).toEqual([{ number: 1, status: 'succeeded' }]);
    expect(engine.calls().filter((c) => c.event === 'start' && c.args[0] === String(second.change_number))).toHaveLength(1);
  });

  it('a graceful stop gives the rollout back at once: another worker resumes it without waiting for the lease', async () => {
    const wf = workflow({
      name: 'handover',
      steps: [
        { id: 'first', run: run('first') },
        { id: 'second', needs: ['first'], run: run('second', { sleep: 2000 }) },
      ],
    });
    const r = rule('handover-prod', 'handover', 'handover-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    const leaving = engine.runner({ leaseMs: 60_000, workerId: 'leaving' });
    const ran = leaving.runNext();
    await waitFor('the second step to start', () => engine!.calls().some((c) => c.name === 'second'));
    await leaving.stop(100);
    expect(await ran).toBe(true);
    expect((await engine.reads.get(rollout.id))!).toMatchObject({ status: 'running', claimed_by: null });
    engine.start(1, { leaseMs: 60_000, workerId: 'taking-over' });
    await waitFor('the rollout to succeed long before the 60 s lease', async () => (await engine!.status(rollout.id)) === 'succeeded', 15_000);
    const starts = engine.calls().filter((c) => c.event === 'start');
    expect(starts.map((c) => c.name)).toEqual(['first', 'second', 'second']);
  });

  it('resumes a rollout whose worker died: the interrupted step runs again with the same key, finished ones do not', async () => {
    const wf = workflow({
      name: 'resume',
      steps: [
        { id: 'first', run: run('first') },
        { id: 'second', needs: ['first'], run: run('second', { sleep: 1500 }) },
        { id: 'third', needs: ['second'], run: run('third') },
      ],
    });
    const r = rule('resume-prod', 'resume', 'resume-prod');
    engine = new Engine(handle, policy([wf], [r]));
    const rollout = await queueRollout(engine.store, wf, r);
    // worker 1 claims the rollout and "dies" mid-step: its heartbeat stops and it writes nothing more
    const doomed = engine.runner({ leaseMs: 1000, workerId: 'doomed', leases: new RolloutLeaseStore(engine.db), steps: new StepStore(engine.db), reads: new RolloutReads(engine.db) });
    void doomed.runNext();
    await waitFor('the second step to start', () => engine!.calls().some((c) => c.name === 'second'));
    (doomed as unknown as { stop: () => Promise<void> }).stop = async () => {};
    await freeze(doomed);
    const survivor = engine.start(1, { leaseMs: 1000, workerId: 'survivor' });
    await waitFor('the rollout to succeed', async () => (await engine!.status(rollout.id)) === 'succeeded', 20_000);
    void survivor;
    const starts = engine.calls().filter((c) => c.event === 'start');
    expect(starts.filter((c) => c.name === 'first')).toHaveLength(1);
    expect(starts.filter((c) => c.name === 'third')).toHaveLength(1);
    const second = starts.filter((c) => c.name === 'second');
    expect(second.length).toBeGreaterThanOrEqual(2);
    expect(new Set(second.map((c) => c.key))).toEqual(new Set([`rollgate-${rollout.id}-second`]));
    expect((await engine.messages(rollout.id)).filter((m) => m.includes('STARTED'))).toHaveLength(1);
    // every start is an attempt on record: the dead worker's is marked interrupted, the re-run is a new one
    const attempts = await engine.db.selectFrom('step_attempts').select(['step_id', 'number', 'worker', 'status']).where('rollout_id', '=', rollout.id).orderBy('step_id').orderBy('number').execute();
    // the re-run is told it is one, with a new attempt number, and the step and its report say why it ran twice
    expect(second.map((c) => [c.attempt, c.resumed])).toEqual([['1', undefined], ...second.slice(1).map((_, i) => [String(i + 2), '1'])]);
    const step = (await engine.steps(rollout.id)).second!;
    expect(step.attempts).toBe(second.length);
    expect(step.note).toMatch(/^re-run after a takeover: attempt \d by worker (doomed|survivor) was interrupted/);
    const finished = (await engine.messages(rollout.id)).find((m) => m.includes('SUCCEEDED'))!;
    expect(finished).toContain(`second: succeeded (`);
    expect(finished).toMatch(new RegExp(`${second.length} attempts\\) - re-run after a takeover: attempt 1 by worker doomed was interrupted`));
    const secondAttempts = attempts.filter((a) => a.step_id === 'second');
    expect(secondAttempts).toHaveLength(second.length);
    expect(secondAttempts[0]).toEqual({ step_id: 'second', number: 1, worker: 'doomed', status: 'interrupted' });
    expect(secondAttempts.at(-1)).toEqual({ step_id: 'second', number: second.length, worker: 'survivor', status: 'succeeded' });
    expect(attempts.filter((a) => a.step_id !== 'second').map((a) => `${a.step_id}#${a.number} ${a.status}`)).toEqual(['first#1 succeeded', 'third#1 succeeded']);
  });
});

/**
 * Simulates a worker that stopped (a frozen or killed process): its heartbeat timer and every
 * later database write of the runner are cut off, so only lease expiry can free its rollout.
 */
async function freeze(runner: object): Promise<void> {
  const r = runner as unknown as { deps: { leases: object; steps: object; reads: object } };
  for (const store of [r.deps.leases, r.deps.steps, r.deps.reads] as Array<Record<string, unknown>>) {
    for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(store))) {
      if (name === 'constructor' || typeof store[name] !== 'function') continue;
      store[name] = () => new Promise(() => {});
    }
  }
}
