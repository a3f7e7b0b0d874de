import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { redact } from '../../src/execute/redact.js';
import type { RunningService } from '../../src/service/service.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { policiesWithWorkflow } from '../helpers/serve-process.js';
import { startServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * Attack: a `run` step prints rollgate's own secrets (session secret, webhook secret, OIDC client
 * secret, Gerrit HTTP password, the database password in DATABASE_URL, the Gerrit SSH key), raw
 * and encoded, then fails so its output is posted on the change. Before the fix only the Gerrit
 * password, and only raw, was hidden. Nothing of any of them may reach the database or Gerrit.
 */

const SECRETS = {
  session: 'session/secret+value=with spaces & "quotes" 0123456789',
  webhook: 'webhook-secret-öä/+?&=#1234',
  oidcClient: 'oidc-client~secret!*()\'value',
  gerritHttp: 'gerrit-http-pw/with+slash',
  database: 'db-pass/with@odd:chars+1',
};

const WORKFLOW = `name: deploy-service
steps:
  - id: leak
    run: ["/bin/sh", "-c", "cat \\"$0\\"; exit 1", "\${env.LEAK_FILE}"]
`;

/** base64 of `secret` inside a larger blob, `offset` bytes in, and the blob's characters that only the secret decides. */
function embedded(secret: string, offset: number, urlSafe: boolean): { blob: string; core: string } {
  const bytes = Buffer.from(secret);
  const whole = Buffer.concat([Buffer.from('prefix-bytes'.slice(0, offset)), bytes, Buffer.from('--suffix')]);
  const blob = whole.toString(urlSafe ? 'base64url' : 'base64');
  return { blob, core: blob.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6)) };
}

/** Every way the step prints one secret, labelled, and the strings none of which may survive. */
function printed(name: string, secret: string): { lines: string[]; forbidden: string[] } {
  const bytes = Buffer.from(secret);
  const json = JSON.stringify(secret).slice(1, -1);
  const asciiJson = json.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const exact: Record<string, string> = {
    raw: secret,
    base64: bytes.toString('base64'),
    'base64 unpadded': bytes.toString('base64').replace(/=+$/, ''),
    base64url: bytes.toString('base64url'),
    'url-encoded': encodeURIComponent(secret),
    'url-encoded lowercase': encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    'form-encoded': new URLSearchParams({ v: secret }).toString().slice(2),
    hex: bytes.toString('hex'),
    'hex uppercase': bytes.toString('hex').toUpperCase(),
    json,
    'json ascii': asciiJson,
    'json escaped slashes': json.replace(/\//g, '\\/'),
  };
  const lines = Object.entries(exact).map(([how, value]) => `${name} ${how}: ${value}`);
  const forbidden = Object.values(exact);
  for (const offset of [0, 1, 2, 3, 4, 5]) {
    for (const urlSafe of [false, true]) {
      const { blob, core } = embedded(secret, offset, urlSafe);
      lines.push(`${name} in base64${urlSafe ? 'url' : ''} blob at ${offset}: ${blob}`);
      // no 8 characters in a row that only the secret decides may be left
      for (let i = 0; i + 8 <= core.length; i++) forbidden.push(core.slice(i, i + 8));
    }
  }
  return { lines, forbidden };
}

describe.each(BACKENDS)('%s: a step that prints rollgate\'s secrets', (backend) => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let service: RunningService;
  const all: { lines: string[]; forbidden: string[] } = { lines: [], forbidden: [] };

  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble({ password: SECRETS.gerritHttp });
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    const created = await createTestDatabase(backend);
    // PostgreSQL with a password in the URL (the test server trusts loopback, so any password connects)
    const url = created.url === undefined ? undefined : Object.assign(new URL(created.url), { password: encodeURIComponent(SECRETS.database) }).toString();
    database = { ...created, url };
    // the SSH key's lines first: Gerrit gets only the last 4 kB of output, where the shorter secrets are
    const secrets: Record<string, string> = { sshKey: ssh.clientPrivateKey, ...SECRETS };
    if (url === undefined) delete secrets.database;
    for (const [name, secret] of Object.entries(secrets)) {
      const p = printed(name, secret);
      all.lines.push(...p.lines);
      all.forbidden.push(...p.forbidden);
    }
    ({ service } = await startServiceOnDoubles({
      name: 'leak',
      database,
      rest,
      ssh,
      env: ({ tmp }) => {
        const leakFile = path.join(tmp, 'leak.txt');
        writeFileSync(leakFile, all.lines.join('\n') + '\n');
        return {
          ROLLGATE_POLICY_DIR: policiesWithWorkflow(tmp, WORKFLOW),
          ROLLGATE_STEP_ENV: 'RECORD_DIR,LEAK_FILE',
          LEAK_FILE: leakFile,
          ROLLGATE_WEBHOOK_SECRET: SECRETS.webhook,
          ROLLGATE_SESSION_SECRET: SECRETS.session,
          ROLLGATE_OIDC_ISSUER: 'http://127.0.0.1:9/realms/none',
          ROLLGATE_OIDC_CLIENT_ID: 'rollgate',
          ROLLGATE_OIDC_CLIENT_SECRET: SECRETS.oidcClient,
          ROLLGATE_PUBLIC_URL: 'http://127.0.0.1:8787',
        };
      },
    }));
  });

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await ssh?.close();
    await rest?.close();
  });

  it('keeps every secret, in every encoding, out of the stored step output and the Gerrit message', async () => {
    const change = mergedChange(1101, bob, { commitMessage: 'Leak\n\nRollout-Justification: test\n', votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    const finished = await waitFor('the failure message', () => rest.reviews.find((r) => r.changeNumber === 1101 && r.message.includes('FAILED')));
    const row = await service.database.db.selectFrom('rollout_steps').select('output_tail').where('step_id', '=', 'leak').executeTakeFirstOrThrow();
    const stored = row.output_tail ?? '';
    // the output did arrive (so the checks below look at something): every labelled line is there
    for (const line of all.lines) expect(stored).toContain(line.slice(0, line.indexOf(':') + 1));
    expect(finished.message).toContain('Output of leak');
    expect(finished.message).toMatch(/(database|gerritHttp) raw: \[redacted\]\n/);
    const leaks = (text: string) => all.forbidden.filter((f) => text.includes(f));
    expect(leaks(stored)).toEqual([]);
    for (const review of rest.reviews) expect(leaks(review.message)).toEqual([]);
  });
});

describe('which secrets rollgate holds, and short ones', () => {
  it('collects the database password from the URL (decoded) and PGPASSWORD with the configured secrets', () => {
    const config = loadConfig({
      DATABASE_URL: `postgres://rollgate:${encodeURIComponent(SECRETS.database)}@127.0.0.1:5432/rollgate`,
      PGPASSWORD: 'pg-password-from-env',
      ROLLGATE_WEBHOOK_SECRET: SECRETS.webhook,
    });
    expect(config.secrets).toEqual(expect.arrayContaining([SECRETS.database, 'pg-password-from-env', SECRETS.webhook]));
  });

  it('redacts a secret of 4 to 7 characters as written, not in base64 or hex, and one under 4 not at all', () => {
    expect(redact('pw=Ab1!x2 b64=' + Buffer.from('Ab1!x2').toString('base64'), ['Ab1!x2'])).toBe(`pw=[redacted] b64=${Buffer.from('Ab1!x2').toString('base64')}`);
    expect(redact('pin 123 of 1234', ['123'])).toBe('pin 123 of 1234');
  });
});
