import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Logger } from '../../src/log.js';
import { startService, type RunningService } from '../../src/service/service.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { alice, bob, changeMergedEvent, GROUPS, mergedChange } from '../helpers/change-events.js';
import { doubleSettings } from '../helpers/double-settings.js';
import { startRestGerritDouble, type DoubleChange, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { waitFor } from '../helpers/wait-for.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * Issue 17: rollgate is an OpenID issuer for its steps. A step with `credentials.identity` gets, per
 * attempt, a JWT signed with a key from the database, in a 0600 file whose path is in the variable
 * it chose; the token is checked here as a receiving system would, with jose's `jwtVerify` against
 * the JWKS `serve` publishes over HTTP. The step prints the token, its base64, a slice and its
 * signature; none of them may reach a table, a log line or a review message.
 */
const PUBLIC_URL = 'https://rollgate.example.test';
const PROD_AUDIENCE = 'https://vault.example.test';
const STAGING_AUDIENCE = 'sts.example.test/staging';
const FIXTURES = path.resolve('test/fixtures');

const ROLLOUTS = `rollouts:
  - name: payments-api-prod
    match: { project: payments/api, branch: main }
    workflow: deploy-service
    environment: production
    approval: { roles: [prod-deployer] }
    step_token: { audience: "${PROD_AUDIENCE}" }
  - name: payments-api-staging
    match: { project: payments/api, branch: staging }
    workflow: deploy-service
    environment: staging
    approval: { roles: [prod-deployer] }
    step_token: { audience: "${STAGING_AUDIENCE}" }
`;

const WORKFLOW = `name: deploy-service
steps:
  - id: deploy
    run: ["./ops/id-token-step.mjs", "DEPLOY_ID_TOKEN_FILE", "--fail-first"]
    timeout: 2m
    retry: { attempts: 2, backoff: 100ms }
    credentials:
      identity: { file_env: DEPLOY_ID_TOKEN_FILE }
`;

interface Recorded {
  readonly token: string;
  readonly file: string;
  readonly fileMode: string;
  readonly dirMode: string;
}

/** Every 16-character slice of `token`: none may be found anywhere rollgate keeps or posts text. */
function slicesOf(token: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 16 <= token.length; i++) out.push(token.slice(i, i + 16));
  return out;
}

describe.each(BACKENDS)('%s: step identity tokens (rollgate as an OpenID issuer for its steps)', (backend) => {
  let ssh: SshGerritDouble;
  let rest: RestGerritDouble;
  let database: TestDatabase;
  let service: RunningService;
  let recordDir: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    ssh = await startSshGerritDouble();
    rest = await startRestGerritDouble();
    rest.addAccount(alice, [GROUPS.sre]);
    rest.addAccount(bob, [GROUPS.developers]);
    database = await createTestDatabase(backend);
    const tmp = tempDir('rollgate-id-token-');
    recordDir = path.join(tmp, 'record');
    mkdirSync(recordDir);
    const policies = path.join(tmp, 'policies');
    mkdirSync(path.join(policies, 'workflows'), { recursive: true });
    writeFileSync(path.join(policies, 'roles.yaml'), readFileSync(path.join(FIXTURES, 'policies/roles.yaml')));
    writeFileSync(path.join(policies, 'rollouts.yaml'), ROLLOUTS);
    writeFileSync(path.join(policies, 'workflows/deploy-service.yaml'), WORKFLOW);
    writeFileSync(path.join(tmp, 'step-token-key'), 'an encryption secret of more than thirty-two characters\n', { mode: 0o600 });
    const config = loadConfig({
      PATH: process.env.PATH,
      PORT: '0',
      ROLLGATE_DATA_DIR: 'memory://',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
      ROLLGATE_POLICY_DIR: policies,
      ROLLGATE_WORK_DIR: FIXTURES,
      ROLLGATE_SETTLE_MS: '0',
      ROLLGATE_STEP_ENV: 'RECORD_DIR',
      RECORD_DIR: recordDir,
      ROLLGATE_PUBLIC_URL: PUBLIC_URL,
      ROLLGATE_STEP_TOKEN_KEY_FILE: path.join(tmp, 'step-token-key'),
      ...doubleSettings(tmp, { rest, ssh }),
    });
    // every log line serve writes, at debug, kept to look for the token in
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) }) as unknown as Logger;
    service = await startService(config, logger, { idleMs: 50 });
    await ssh.waitForSession(1);
  });

  afterAll(async () => {
    await service?.stop();
    await database?.drop();
    await ssh?.close();
    await rest?.close();
  });

  /** Merges `change`, waits for its finish message, and returns the rollout id and what each attempt of its step recorded. */
  async function rollOut(change: DoubleChange): Promise<{ rolloutId: number; attempts: Recorded[] }> {
    rest.setChange(change);
    ssh.push(changeMergedEvent(change));
    const finished = await waitFor(`change ${change.number}'s finish message`, () => rest.reviews.find((m) => m.changeNumber === change.number && /SUCCEEDED|FAILED/.test(m.message)));
    expect(finished.message).toContain('SUCCEEDED');
    const rollout = await service.database.db.selectFrom('rollouts').select('id').where('change_number', '=', change.number).executeTakeFirstOrThrow();
    const read = (attempt: number) => JSON.parse(readFileSync(path.join(recordDir, `id-token-${rollout.id}-${attempt}.json`), 'utf8')) as Recorded;
    return { rolloutId: rollout.id, attempts: [read(1), read(2)] };
  }

  const approved = (number: number, branch = 'main') => mergedChange(number, bob, { branch, votes: { 'Code-Review': [{ account: alice, value: 2 }] } });
  const jwks = () => createRemoteJWKSet(new URL(`${service.url}/.well-known/jwks.json`));
  const prodSubject = 'project:payments/api:environment:production:rule:payments-api-prod';

  let prod: { change: DoubleChange; rolloutId: number; attempts: Recorded[] };
  let staging: { change: DoubleChange; rolloutId: number; attempts: Recorded[] };

  it('publishes an OpenID configuration and a JWKS, without login', async () => {
    const discovery = (await (await fetch(`${service.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery).toMatchObject({
      issuer: PUBLIC_URL,
      jwks_uri: `${PUBLIC_URL}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['ES256'],
      subject_types_supported: ['public'],
      response_types_supported: ['id_token'],
    });
    expect(discovery.claims_supported).toEqual(expect.arrayContaining(['sub', 'aud', 'project', 'environment', 'rule', 'approvers', 'policy_digest']));
    const keys = (await (await fetch(`${service.url}/.well-known/jwks.json`)).json()) as { keys: Array<Record<string, unknown>> };
    for (const key of keys.keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
  });

  it("gives each attempt its own token in a 0600 file, removed when the attempt ends, that a standard verifier accepts with every claim of the rollout", async () => {
    const change = approved(901);
    prod = { change, ...(await rollOut(change)) };
    const [first, second] = prod.attempts as [Recorded, Recorded];
    expect(first.token).not.toBe(second.token);
    for (const attempt of prod.attempts) {
      expect(attempt.fileMode).toBe('600');
      expect(attempt.dirMode).toBe('700');
      expect(existsSync(attempt.file)).toBe(false);
      expect(existsSync(path.dirname(attempt.file))).toBe(false);
    }

    const verified = await Promise.all(prod.attempts.map((a) => jwtVerify(a.token, jwks(), { issuer: PUBLIC_URL, audience: PROD_AUDIENCE, algorithms: ['ES256'] })));
    const payloads = verified.map((v) => v.payload);
    payloads.forEach((payload: JWTPayload, i) => {
      expect(payload).toEqual({
        iss: PUBLIC_URL,
        sub: prodSubject,
        aud: PROD_AUDIENCE,
        iat: expect.any(Number),
        nbf: payload.iat,
        // the step's timeout (2m) plus the 60 s margin
        exp: payload.iat! + 180,
        jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
        project: 'payments/api',
        branch: 'main',
        change: 901,
        revision: change.revision,
        rollout: prod.rolloutId,
        step: 'deploy',
        attempt: i + 1,
        environment: 'production',
        rule: 'payments-api-prod',
        approvers: ['alice'],
        policy_digest: service.policy.version,
      });
      expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(60);
    });
    expect(payloads[0]!.jti).not.toBe(payloads[1]!.jti);
    expect(decodeProtectedHeader(first.token)).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: expect.any(String) });
  });

  it('is refused by a verifier bound to another environment, audience or subject', async () => {
    const change = approved(902, 'staging');
    staging = { change, ...(await rollOut(change)) };
    const token = staging.attempts[1]!.token;
    const { payload } = await jwtVerify(token, jwks(), { issuer: PUBLIC_URL, audience: STAGING_AUDIENCE });
    expect(payload).toMatchObject({ sub: 'project:payments/api:environment:staging:rule:payments-api-staging', environment: 'staging', branch: 'staging', change: 902 });

    // a production role: bound to production's audience, subject and environment claim
    await expect(jwtVerify(token, jwks(), { issuer: PUBLIC_URL, audience: PROD_AUDIENCE })).rejects.toThrow(/unexpected "aud" claim value/);
    await expect(jwtVerify(token, jwks(), { issuer: PUBLIC_URL, audience: STAGING_AUDIENCE, subject: prodSubject })).rejects.toThrow(/unexpected "sub" claim value/);
    const productionOnly = async (t: string) => {
      const { payload: p } = await jwtVerify(t, jwks(), { issuer: PUBLIC_URL, audience: [PROD_AUDIENCE, STAGING_AUDIENCE] });
      if (p.environment !== 'production' || p.project !== 'payments/api') throw new Error(`bound claims: environment ${String(p.environment)} is not production`);
      return p;
    };
    await expect(productionOnly(token)).rejects.toThrow('environment staging is not production');
    await expect(productionOnly(prod.attempts[0]!.token)).resolves.toMatchObject({ environment: 'production' });
    // a token of another issuer's name, or altered, is refused outright
    await expect(jwtVerify(token, jwks(), { issuer: 'https://other.example.test' })).rejects.toThrow(/unexpected "iss" claim value/);
    const [h, p, s] = token.split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), environment: 'production' })).toString('base64url');
    await expect(jwtVerify(`${h}.${forged}.${s}`, jwks())).rejects.toThrow(/signature verification failed/);
  });

  it('keeps no form of any token (whole, base64, any 16-character slice) in a table, a log line or a review message', async () => {
    const tokens = [...prod.attempts, ...staging.attempts].map((a) => a.token);
    const tables = ['rollouts', 'rollout_steps', 'step_attempts', 'step_output', 'outbox', 'decisions', 'events', 'audit_log', 'step_token_keys'] as const;
    const dump = JSON.stringify(await Promise.all(tables.map((t) => service.database.db.selectFrom(t).selectAll().execute())));
    const logs = logLines.join('');
    const reviews = rest.reviews.map((r) => r.message).join('\n');
    // the step's output is there, redacted
    const step = await service.database.db.selectFrom('rollout_steps').select(['output_tail']).where('rollout_id', '=', prod.rolloutId).executeTakeFirstOrThrow();
    expect(step.output_tail).toContain('token: [redacted]');
    expect(step.output_tail).toContain('base64: [redacted]');
    expect(step.output_tail).toContain('slice: [redacted]');
    expect(step.output_tail).toContain('signature: [redacted]');
    expect(logs).toContain('step attempt finished');
    for (const token of tokens) {
      const forms = [token, Buffer.from(token).toString('base64'), Buffer.from(token).toString('base64url'), encodeURIComponent(token), ...slicesOf(token)];
      for (const [where, text] of [['tables', dump], ['logs', logs], ['reviews', reviews]] as const) {
        const found = forms.filter((f) => text.includes(f));
        expect(found, `${where} hold a form of a step token`).toEqual([]);
      }
    }
  });
});
