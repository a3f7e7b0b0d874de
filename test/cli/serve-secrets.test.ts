import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { waitFor } from '../helpers/wait-for.js';
import { doubleSettings } from '../helpers/double-settings.js';
import { freePort } from '../helpers/free-port.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('rollgate serve against Gerrit', () => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble({ password: 'S3cret-http-password' });
    rest.addAccount(alice, [GROUPS.sre]);
  });
  afterAll(async () => {
    await ssh.close();
    await rest.close();
  });

  it('rolls out a streamed merge and never writes a secret to its logs, even at trace level', async () => {
    const tmp = tempDir('rollgate-secrets-');
    const port = await freePort();
    const webhookSecret = 'Webhook-s3cret-in-the-path';
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        LOG_LEVEL: 'trace',
        ROLLGATE_WEBHOOK_SECRET: webhookSecret,
        ROLLGATE_DATA_DIR: path.join(tmp, 'data'),
        ROLLGATE_POLICY_DIR: path.resolve('test/fixtures/policies'),
        ROLLGATE_WORK_DIR: path.resolve('test/fixtures'),
        ROLLGATE_SETTLE_MS: '0',
        ...doubleSettings(tmp, { rest, ssh }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stdout.on('data', (c: Buffer) => (logs += c.toString()));
    child.stderr.on('data', (c: Buffer) => (logs += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await ssh.waitForSession(1, 30_000);
      const change = mergedChange(201, bob, { commitMessage: 'x\n\nRollout-Justification: y\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
      rest.setChange(change);
      ssh.push(changeMergedEvent(change));
      await waitFor('the finish message', () => rest.reviews.find((r) => r.changeNumber === 201 && r.message.includes('SUCCEEDED')), 30_000);
      // the webhooks plugin puts the secret in the path; a wrong guess is close to a secret too
      const hook = (secret: string) => fetch(`http://127.0.0.1:${port}/hooks/gerrit/${secret}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(changeMergedEvent(change)) });
      expect((await hook(webhookSecret)).status).toBe(202);
      expect((await hook(`${webhookSecret}-wrong`)).status).toBe(401);
      await waitFor('the webhook requests in the log', () => (logs.match(/"path":"\/hooks\/gerrit\/\[redacted\]"/g) ?? []).length >= 2, 10_000);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(logs).toContain('"msg":"rollout finished"');
    expect(logs).not.toContain(rest.password);
    expect(logs).not.toContain(webhookSecret);
    expect(logs).not.toContain(Buffer.from(`${rest.user}:${rest.password}`).toString('base64'));
    const keyBody = ssh.clientPrivateKey.split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const line of keyBody) expect(logs).not.toContain(line);
  }, 90_000);
});
