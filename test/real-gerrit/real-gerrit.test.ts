/**
 * Boots a real Gerrit 3.10.2 (see gerrit-server.ts) and proves what rollgate relies on:
 * REST, `gerrit stream-events` over SSH as the rollgate service account with a pinned host key,
 * change-merged events after a real review and submit, review comments posted by rollgate on a
 * merged change, and a stream that reconnects after a Gerrit restart.
 *
 * Needs Java 17 and the jars of fetch-gerrit.sh (fetched through mvn when missing). When they
 * cannot be had, every test here fails with the boot error (beforeAllOrFailEachTest): this suite
 * never skips.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { beforeAllOrFailEachTest } from './fail-if-setup-failed.js';
import { GERRIT_VERSION, sshFingerprint, startRealGerrit } from './gerrit-server.js';
import type { GerritUser, RealGerrit } from './gerrit-server.js';

type GerritEvent = Record<string, unknown> & { type: string };

interface EventStream {
  /** Every line received, raw. */
  readonly lines: string[];
  /** The host key fingerprint that ssh2's hostVerifier was shown. */
  readonly hostKeySeen: string;
  /** Resolves with the raw line of the first event (already received or future) that matches. */
  waitFor(predicate: (event: GerritEvent) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves when the SSH connection is gone (server restart, close()). */
  readonly closed: Promise<void>;
  close(): void;
}

function isEvent(value: unknown): value is GerritEvent {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/** `gerrit stream-events` over SSH with ssh2, as rollgate will run it. */
function openEventStream(gerrit: RealGerrit, user: GerritUser & { privateKeyPath: string }, subscribe: string[]): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    const lines: string[] = [];
    const waiters: Array<{ predicate: (event: GerritEvent) => boolean; resolve: (line: string) => void }> = [];
    let hostKeySeen = '';
    let buffered = '';
    let settled = false;
    let markClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolveClosed) => {
      markClosed = resolveClosed;
    });

    const onLine = (line: string): void => {
      if (line.trim() === '') return;
      lines.push(line);
      const event: unknown = JSON.parse(line);
      if (!isEvent(event)) return;
      for (const waiter of [...waiters]) {
        if (waiter.predicate(event)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    };

    client.on('ready', () => {
      const command = ['gerrit', 'stream-events', ...subscribe.flatMap((type) => ['-s', type])].join(' ');
      client.exec(command, (error, channel) => {
        if (error) {
          settled = true;
          reject(error);
          client.end();
          return;
        }
        channel.on('data', (chunk: Buffer) => {
          buffered += chunk.toString('utf8');
          let newline = buffered.indexOf('\n');
          while (newline >= 0) {
            onLine(buffered.slice(0, newline));
            buffered = buffered.slice(newline + 1);
            newline = buffered.indexOf('\n');
          }
        });
        channel.stderr.on('data', (chunk: Buffer) => {
          lines.push(`stderr: ${chunk.toString('utf8')}`);
        });
        channel.on('close', () => client.end());
        settled = true;
        resolve({
          lines,
          hostKeySeen,
          closed,
          close: () => client.end(),
          waitFor: (predicate, timeoutMs = 30_000) => {
            for (const line of lines) {
              if (line.startsWith('stderr: ')) continue;
              const event: unknown = JSON.parse(line);
              if (isEvent(event) && predicate(event)) return Promise.resolve(line);
            }
            return new Promise<string>((resolveLine, rejectLine) => {
              const timer = setTimeout(() => {
                rejectLine(new Error(`no matching event within ${timeoutMs} ms; got:\n${lines.join('\n')}`));
              }, timeoutMs);
              waiters.push({
                predicate,
                resolve: (line) => {
                  clearTimeout(timer);
                  resolveLine(line);
                },
              });
            });
          },
        });
      });
    });
    client.on('error', (error) => {
      if (!settled) {
        settled = true;
        reject(error);
      }
    });
    client.on('close', () => markClosed());
    client.connect({
      host: gerrit.sshHost,
      port: gerrit.sshPort,
      username: user.username,
      privateKey: readFileSync(user.privateKeyPath),
      readyTimeout: 20_000,
      hostVerifier: (key: Buffer): boolean => {
        hostKeySeen = sshFingerprint(key);
        return gerrit.hostKeyFingerprints.includes(hostKeySeen);
      },
    });
  });
}

async function openWithRetry(
  gerrit: RealGerrit,
  user: GerritUser & { privateKeyPath: string },
  subscribe: string[],
  timeoutMs: number,
): Promise<{ stream: EventStream; attempts: number }> {
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    try {
      return { stream: await openEventStream(gerrit, user, subscribe), attempts };
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function show(title: string, value: unknown): void {
  console.log(`\n===== ${title} =====\n${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);
}

function changeNumberOf(event: GerritEvent): number | undefined {
  const change = event.change;
  return typeof change === 'object' && change !== null ? (change as { number?: number }).number : undefined;
}

describe(`real Gerrit ${GERRIT_VERSION}`, () => {
  let gerrit: RealGerrit;
  const suiteStarted = Date.now();
  let merged: { number: number; revision: string } | undefined;

  beforeAllOrFailEachTest('real Gerrit', async () => {
    gerrit = await startRealGerrit();
  });

  afterAll(async () => {
    await gerrit?.stop();
    console.log(`[real-gerrit] whole suite took ${Date.now() - suiteStarted} ms`);
  }, 120_000);

  it('answers REST, anonymously and as admin', async () => {
    expect(await gerrit.rest(null, 'GET', '/config/server/version')).toBe(GERRIT_VERSION);
    const self = await gerrit.rest(gerrit.users.admin, 'GET', '/accounts/self');
    expect(self).toMatchObject({ username: 'admin', _account_id: gerrit.users.admin.accountId });
    // Provisioned users log in with their HTTP passwords.
    for (const user of [gerrit.service, gerrit.users.alice, gerrit.users.bob, gerrit.users.carol, gerrit.users.dave]) {
      expect(await gerrit.rest(user, 'GET', '/accounts/self')).toMatchObject({
        username: user.username,
        _account_id: user.accountId,
        email: user.email,
      });
    }
  });

  it('gave rollgate its capabilities from gerrit-plugin-config, and shows group membership', async () => {
    const capabilities = await gerrit.rest(gerrit.service, 'GET', '/accounts/self/capabilities');
    expect(capabilities).toMatchObject({ streamEvents: true, viewAllAccounts: true });
    const bobCapabilities = await gerrit.rest(gerrit.users.bob, 'GET', '/accounts/self/capabilities');
    expect(bobCapabilities).not.toHaveProperty('streamEvents');

    // The applied files are in All-Projects (read back through the access API).
    const access = await gerrit.rest(gerrit.users.admin, 'GET', '/projects/All-Projects/access');
    const serviceUuid = gerrit.groups['rollgate-service'];
    expect(access).toMatchObject({
      local: {
        GLOBAL_CAPABILITIES: { permissions: { streamEvents: { rules: { [serviceUuid ?? '?']: { action: 'ALLOW' } } } } },
        'refs/*': { permissions: { read: { rules: { [serviceUuid ?? '?']: { action: 'ALLOW' } } } } },
      },
    });

    const aliceGroups = await gerrit.rest(gerrit.service, 'GET', `/accounts/${gerrit.users.alice.accountId}/groups`);
    show(`GET /a/accounts/${gerrit.users.alice.accountId}/groups (alice, as rollgate)`, aliceGroups);
    expect(Array.isArray(aliceGroups) && aliceGroups.map((g: { name?: string }) => g.name)).toContain('sre');
    const bobGroups = await gerrit.rest(gerrit.service, 'GET', `/accounts/${gerrit.users.bob.accountId}/groups`);
    expect(Array.isArray(bobGroups) && bobGroups.map((g: { name?: string }) => g.name)).toEqual(['developers']);
    const carolGroups = await gerrit.rest(gerrit.service, 'GET', `/accounts/${gerrit.users.carol.accountId}/groups`);
    show(`GET /a/accounts/${gerrit.users.carol.accountId}/groups (carol, as rollgate)`, carolGroups);
    expect(carolGroups).toEqual([]);

    // Quirk worth knowing: a group that is not visible to the caller is silently left out.
    await gerrit.rest(gerrit.users.admin, 'PUT', '/groups/hidden-ops', { visible_to_all: false });
    await gerrit.rest(gerrit.users.admin, 'PUT', `/groups/hidden-ops/members/carol`);
    const asRollgate = await gerrit.rest(gerrit.service, 'GET', `/accounts/${gerrit.users.carol.accountId}/groups`);
    const asAdmin = await gerrit.rest(gerrit.users.admin, 'GET', `/accounts/${gerrit.users.carol.accountId}/groups`);
    expect(asRollgate).toEqual([]);
    show(`GET /a/accounts/${gerrit.users.carol.accountId}/groups (carol in hidden-ops, as admin)`, asAdmin);
    // An admin sees the hidden group, and also the system groups (Anonymous/Registered Users),
    // which other callers never get in this list.
    expect(Array.isArray(asAdmin) && asAdmin.map((g: { name?: string }) => g.name)).toContain('hidden-ops');
    await gerrit.rest(gerrit.users.admin, 'DELETE', `/groups/hidden-ops/members/carol`);
  });

  it('streams change-merged to rollgate over SSH after bob uploads, alice +2s and submits', async () => {
    const { stream } = await openWithRetry(gerrit, gerrit.service, ['change-merged', 'comment-added'], 20_000);
    try {
      // The pinned fingerprints (from SITE/etc/*.pub) are what the SSH client is shown ...
      expect(gerrit.hostKeyFingerprints).toContain(stream.hostKeySeen);
      // ... and they are OpenSSH's own: compare with ssh-keygen for every host key.
      const keygen = ['ssh_host_ed25519_key.pub', 'ssh_host_rsa_key.pub', 'ssh_host_ecdsa_key.pub'].map(
        (name) => execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(gerrit.sitePath, 'etc', name)], { encoding: 'utf8' }).split(' ')[1],
      );
      for (const fingerprint of keygen) expect(gerrit.hostKeyFingerprints).toContain(fingerprint);

      const change = await gerrit.createChange(gerrit.users.bob, {
        message: 'Bump payments API timeout\n\nRollout: canary first.',
        files: { 'config/timeouts.yaml': 'payments: 30s\n', 'README.md': '# payments/api\n' },
      });
      expect(change.number).toBeGreaterThan(0);
      expect(change.changeId).toMatch(/^I[0-9a-f]{40}$/);

      await gerrit.review(gerrit.users.alice, change.number, { labels: { 'Code-Review': 2 }, message: 'LGTM' });
      await gerrit.submit(gerrit.users.alice, change.number);

      const line = await stream.waitFor((event) => event.type === 'change-merged' && changeNumberOf(event) === change.number);
      show('change-merged event line (stream-events, as rollgate)', line);
      const event: unknown = JSON.parse(line);
      expect(event).toMatchObject({
        type: 'change-merged',
        change: { project: gerrit.project, branch: gerrit.branch, number: change.number, id: change.changeId, status: 'MERGED' },
        patchSet: { revision: change.revision },
        submitter: { username: 'alice' },
      });
      const commentAdded = await stream.waitFor((e) => e.type === 'comment-added' && changeNumberOf(e) === change.number);
      show('comment-added event line (alice Code-Review+2)', commentAdded);

      const detailPath = `/changes/${encodeURIComponent(gerrit.project)}~${change.number}?o=LABELS&o=DETAILED_ACCOUNTS&o=CURRENT_REVISION&o=CURRENT_COMMIT`;
      const detail = await gerrit.rest(gerrit.service, 'GET', detailPath);
      show(`GET /a${detailPath} (as rollgate)`, detail);
      expect(detail).toMatchObject({
        _number: change.number,
        status: 'MERGED',
        current_revision: change.revision,
        owner: { username: 'bob' },
        labels: { 'Code-Review': { approved: { username: 'alice' }, all: [expect.objectContaining({ username: 'alice', value: 2 })] } },
      });
      // What the REST double models: labels come only when asked for, and on a merged change
      // DETAILED_LABELS alone has every vote but not the approved/rejected summaries (an open
      // change has them either way).
      const changePath = `/changes/${encodeURIComponent(gerrit.project)}~${change.number}`;
      expect(await gerrit.rest(gerrit.service, 'GET', changePath)).not.toHaveProperty('labels');
      const detailed = (await gerrit.rest(gerrit.service, 'GET', `${changePath}?o=DETAILED_LABELS&o=DETAILED_ACCOUNTS`)) as { labels: Record<string, object> };
      expect(detailed.labels['Code-Review']).toMatchObject({ all: [expect.objectContaining({ username: 'alice', value: 2 })] });
      expect(detailed.labels['Code-Review']).not.toHaveProperty('approved');
      // Gerrit runs headless (no web UI), but a readable change is there for anyone over REST.
      expect(await gerrit.rest(null, 'GET', `${changePath}/detail`)).toMatchObject({ _number: change.number, status: 'MERGED' });
      merged = { number: change.number, revision: change.revision };
    } finally {
      stream.close();
    }
  }, 120_000);

  it('lets rollgate post a tagged review message on the merged change (which streams back as comment-added)', async () => {
    expect(merged).toBeDefined();
    const { number, revision } = merged ?? { number: 0, revision: '' };
    const { stream } = await openWithRetry(gerrit, gerrit.service, ['comment-added'], 20_000);
    try {
      const reply = await gerrit.rest(
        gerrit.service,
        'POST',
        `/changes/${encodeURIComponent(gerrit.project)}~${number}/revisions/${revision}/review`,
        { message: 'rollgate: rollout started (canary 5%)', tag: 'autogenerated:rollgate' },
      );
      show('POST /a/changes/<project>~<n>/revisions/<sha>/review reply (as rollgate)', reply);
      expect(reply).toBeTypeOf('object');

      const messages = await gerrit.getChangeMessages(number);
      show('GET /a/changes/<id>/messages (as admin)', messages);
      const mine = messages.find((m) => m.tag === 'autogenerated:rollgate');
      expect(mine).toMatchObject({ author: { username: 'rollgate' } });
      expect(mine?.message).toContain('rollgate: rollout started (canary 5%)');

      // rollgate hears its own comments: its listener must ignore them (author / tag).
      const own = await stream.waitFor(
        (e) => e.type === 'comment-added' && changeNumberOf(e) === number && (e.author as { username?: string } | undefined)?.username === 'rollgate',
      );
      show("comment-added event line for rollgate's own message", own);
    } finally {
      stream.close();
    }
  });

  it('lets sre (alice) vote Rollout +1 after the merge, and refuses carol (rollout-label.config)', async () => {
    expect(merged).toBeDefined();
    const { number } = merged ?? { number: 0 };
    const { stream } = await openWithRetry(gerrit, gerrit.service, ['comment-added'], 20_000);
    try {
      await gerrit.review(gerrit.users.alice, number, { labels: { Rollout: 1 }, message: 'Ship it' });
      const vote = await stream.waitFor(
        (e) =>
          e.type === 'comment-added' &&
          changeNumberOf(e) === number &&
          Array.isArray(e.approvals) &&
          e.approvals.some((a: { type?: string; value?: string }) => a.type === 'Rollout' && a.value === '1'),
      );
      show('comment-added event line for a post-submit Rollout+1 (alice)', vote);
      await expect(gerrit.review(gerrit.users.carol, number, { labels: { Rollout: 1 } })).rejects.toThrow(/403/);
      // Votes on a closed change can only go up.
      await expect(gerrit.review(gerrit.users.alice, number, { labels: { Rollout: -1 } })).rejects.toThrow(/409/);
      const detailPath = `/changes/${encodeURIComponent(gerrit.project)}~${number}?o=LABELS&o=DETAILED_LABELS&o=DETAILED_ACCOUNTS`;
      const detail = await gerrit.rest(gerrit.service, 'GET', detailPath);
      show(`GET /a${detailPath} (as rollgate, after the post-submit vote)`, (detail as { labels?: unknown }).labels);
      expect(detail).toMatchObject({
        labels: { Rollout: { approved: { username: 'alice' }, all: expect.arrayContaining([expect.objectContaining({ username: 'alice', value: 1, post_submit: true })]) } },
      });
    } finally {
      stream.close();
    }
  });

  it('restarts, and the stream reconnects and carries new events', async () => {
    const first = await openWithRetry(gerrit, gerrit.service, ['change-merged'], 20_000);
    await gerrit.restart();
    // The old connection is dropped by the restart ...
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      first.stream.closed,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('stream did not close on restart')), 30_000);
      }),
    ]);
    clearTimeout(timer);
    // ... and a new one can be opened (rollgate's reconnect loop does this with backoff).
    const { stream, attempts } = await openWithRetry(gerrit, gerrit.service, ['change-merged'], 60_000);
    console.log(`[real-gerrit] stream reconnected after ${attempts} attempt(s)`);
    try {
      expect(gerrit.hostKeyFingerprints).toContain(stream.hostKeySeen);
      const change = await gerrit.createChange(gerrit.users.bob, {
        message: 'Second change after restart',
        files: { 'config/retries.yaml': 'payments: 3\n' },
      });
      await gerrit.review(gerrit.users.alice, change.number, { labels: { 'Code-Review': 2 } });
      await gerrit.submit(gerrit.users.alice, change.number);
      const line = await stream.waitFor((event) => event.type === 'change-merged' && changeNumberOf(event) === change.number);
      expect(JSON.parse(line)).toMatchObject({ type: 'change-merged', change: { number: change.number } });
    } finally {
      stream.close();
    }
  }, 180_000);
});
