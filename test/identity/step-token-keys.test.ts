import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import path from 'node:path';
import Koa from 'koa';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepTokenDiscoveryRoutes } from '../../src/http/routes/step-token-discovery.js';
import { STEP_TOKEN_CLAIMS, StepTokenIssuer, type StepTokenRequest } from '../../src/identity/step-token-issuer.js';
import { MAX_STEP_TOKEN_LIFETIME_MS, STEP_TOKEN_ALGORITHM, StepTokenKeys } from '../../src/identity/step-token-keys.js';
import { loadPolicy } from '../../src/load-policy.js';
import type { Policy } from '../../src/policy/policy-config.js';
import { BACKENDS, openTestDatabaseForSuite } from '../helpers/backends.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * The signing keys of step identity tokens, on a test clock: a token signed before a rotation is
 * still verified (by jose, against the JWKS fetched over HTTP from the discovery routes) after it,
 * until it expires; keys are stored only encrypted, and one made under another secret is replaced.
 */
const ISSUER = 'https://rollgate.example.test';
const SECRET = 'an encryption secret of more than thirty-two characters';
const MINUTE = 60_000;
const T0 = Date.parse('2026-12-07T10:00:00Z');

function fixturePolicy(): Policy {
  const dir = tempDir('rollgate-step-token-policy-');
  mkdirSync(path.join(dir, 'workflows'));
  writeFileSync(path.join(dir, 'roles.yaml'), readFileSync('test/fixtures/policies/roles.yaml'));
  writeFileSync(
    path.join(dir, 'rollouts.yaml'),
    `rollouts:
  - name: payments-api-prod
    match: { project: payments/api, branch: main }
    workflow: deploy-service
    environment: production
    approval: { roles: [prod-deployer] }
    step_token: { audience: vault }
  - name: no-token
    match: { project: other, branch: main }
    workflow: deploy-service
    environment: staging
    approval: { roles: [prod-deployer] }
`,
  );
  writeFileSync(path.join(dir, 'workflows/deploy-service.yaml'), 'name: deploy-service\nsteps:\n  - id: deploy\n    run: ["true"]\n');
  return loadPolicy(dir);
}

const request = (rule = 'payments-api-prod', timeoutMs = 20 * MINUTE): StepTokenRequest => ({
  rollout: { id: 7, rule, environment: 'production', project: 'payments/api', branch: 'main', change_number: 42, revision: 'a'.repeat(40), approvers: [{ display: 'alice', accountId: 1 }] },
  stepId: 'deploy',
  attempt: 1,
  timeoutMs,
});

describe.each(BACKENDS)('%s: step token signing keys', (backend) => {
  const suite = openTestDatabaseForSuite(backend);
  let now = T0;
  const clock = () => new Date(now);
  let keys: StepTokenKeys;
  let issuer: StepTokenIssuer;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    keys = new StepTokenKeys(suite.handle.db, { secret: SECRET, rotateMs: 10 * MINUTE, now: clock });
    issuer = new StepTokenIssuer({ keys, issuer: ISSUER, policy: fixturePolicy, now: clock });
    const app = new Koa();
    const router = stepTokenDiscoveryRoutes({ issuer: ISSUER, algorithm: STEP_TOKEN_ALGORITHM, claims: STEP_TOKEN_CLAIMS, publicKeys: () => keys.publicKeys() });
    app.use(router.routes());
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  // a fresh fetch each time, as a verifier whose cache has expired
  const verify = (token: string, at: number) => jwtVerify(token, createRemoteJWKSet(new URL(`${url}/.well-known/jwks.json`)), { issuer: ISSUER, audience: 'vault', currentDate: new Date(at) });
  const publishedKids = async () => ((await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

  it('keeps a token verifiable across a rotation until it expires, and drops its key once no token it signed can be live', async () => {
    const first = await issuer.issue(request());
    const kidA = decodeProtectedHeader(first).kid!;
    const { payload } = await verify(first, now + MINUTE);
    // 20 minutes of step timeout and a minute's margin
    expect(payload.exp! - payload.iat!).toBe(21 * 60);

    // the key has signed for its 10 minutes: the scheduled rotation makes the next one
    now = T0 + 10 * MINUTE + 1000;
    const rotated = await keys.rotate();
    expect(rotated.made).toBeDefined();
    expect(rotated.made).not.toBe(kidA);
    const second = await issuer.issue(request());
    expect(decodeProtectedHeader(second).kid).toBe(rotated.made);
    expect(await publishedKids()).toEqual([rotated.made, kidA]);
    // the earlier token, signed by the key that no longer signs, still verifies against the new JWKS
    await expect(verify(first, now)).resolves.toMatchObject({ payload: { sub: 'project:payments/api:environment:production:rule:payments-api-prod' } });
    await expect(verify(second, now)).resolves.toBeDefined();
    // …until it expires
    await expect(verify(first, T0 + 21 * MINUTE + 1000)).rejects.toThrow(/"exp" claim timestamp check failed/);

    // the old key stays published as long as any token it signed could be live (at most an hour after it stopped signing)
    now = T0 + 10 * MINUTE + MAX_STEP_TOKEN_LIFETIME_MS - 1000;
    expect((await keys.rotate()).deleted).toBe(0);
    expect(await publishedKids()).toContain(kidA);
    now = T0 + 10 * MINUTE + MAX_STEP_TOKEN_LIFETIME_MS + 1000;
    expect((await keys.rotate()).deleted).toBe(1);
    expect(await publishedKids()).not.toContain(kidA);
    await expect(verify(first, T0 + MINUTE)).rejects.toThrow(/no applicable key found in the JSON Web Key Set/);
  });

  it('never lives past an hour, and refuses a rule without step_token', async () => {
    const long = await issuer.issue(request('payments-api-prod', 5 * 60 * MINUTE));
    const { payload } = await verify(long, now);
    expect(payload.exp! - payload.iat!).toBe(3600);
    await expect(issuer.issue(request('no-token'))).rejects.toThrow('rule "no-token" has no step_token.audience in rollouts.yaml');
    await expect(issuer.issue(request('gone'))).rejects.toThrow('rule "gone" is no longer in the policy');
  });

  it('stores private keys only encrypted; a key made under another secret is not used, a new one takes over', async () => {
    const rows = await suite.handle.db.selectFrom('step_token_keys').selectAll().execute();
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.private_key_encrypted).not.toMatch(/PRIVATE KEY/);
      expect(Buffer.from(row.private_key_encrypted, 'base64').toString('latin1')).not.toMatch(/PRIVATE KEY/);
      expect(JSON.parse(row.public_jwk)).not.toHaveProperty('d');
    }
    const current = await keys.signingKey();
    const other = new StepTokenKeys(suite.handle.db, { secret: 'another secret of more than thirty-two characters', rotateMs: 10 * MINUTE, now: clock });
    const replaced = await other.signingKey();
    expect(replaced.kid).not.toBe(current.kid);
    // a ciphertext moved to another row (another kid) does not decrypt there either
    await suite.handle.db.updateTable('step_token_keys').set({ private_key_encrypted: rows[0]!.private_key_encrypted }).where('kid', '=', replaced.kid).execute();
    const fresh = new StepTokenKeys(suite.handle.db, { secret: 'another secret of more than thirty-two characters', rotateMs: 10 * MINUTE, now: clock });
    expect((await fresh.signingKey()).kid).not.toBe(replaced.kid);
  });

  it('publishes an OpenID configuration naming the issuer, the JWKS and the claims', async () => {
    const res = await fetch(`${url}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['ES256'],
      subject_types_supported: ['public'],
      response_types_supported: ['id_token'],
      claims_supported: [...STEP_TOKEN_CLAIMS],
      scopes_supported: ['openid'],
    });
  });
});
