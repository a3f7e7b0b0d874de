import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { TEST_AUDIENCE } from '../helpers/oidc-provider.js';
import { startRollgateWithLogin, tokenWhileStepHolds, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';

const WORKFLOW = `name: deploy-service
steps:
  - id: deploy
    run: ["./ops/oidc-step.mjs", "DEPLOYER_TOKEN"]
    credentials:
      oidc: { audience: "${TEST_AUDIENCE}", scope: deploy, env: DEPLOYER_TOKEN }
`;

describe.each(BACKENDS)('%s: a step with credentials.oidc gets a token from the provider', (backend) => {
  let r: RollgateWithLogin;

  beforeAll(async () => {
    r = await startRollgateWithLogin(backend, { workflow: WORKFLOW });
  });

  afterAll(async () => {
    await r?.stop();
  });

  it('passes a real client-credentials token in the step environment, revokes it when the attempt ends, and stores and posts it only redacted', async () => {
    // the step runs on until told, so the token can be looked at while it is in use
    let token = '';
    const finished = await tokenWhileStepHolds(r, 801, async (held) => {
      token = held;
      expect(await r.idp.introspect(token)).toMatchObject({ active: true, client_id: 'rollgate', aud: TEST_AUDIENCE, scope: 'deploy' });
    });
    expect(finished).toContain('SUCCEEDED');
    // the attempt is over: the provider no longer accepts its token
    expect(await r.idp.introspect(token)).toMatchObject({ active: false });

    const step = await r.service.database.db.selectFrom('rollout_steps').select(['status', 'output_tail']).where('step_id', '=', 'deploy').executeTakeFirstOrThrow();
    expect(step).toEqual({ status: 'succeeded', output_tail: `got a token of ${token.length} characters: [redacted]\n` });
    const tables = ['rollouts', 'rollout_steps', 'outbox', 'decisions', 'events', 'audit_log', 'operator_sessions'] as const;
    const dump = JSON.stringify(await Promise.all(tables.map((t) => r.service.database.db.selectFrom(t).selectAll().execute())));
    expect(dump).toContain('[redacted]');
    expect(dump).not.toContain(token);
    for (const review of r.rest.reviews) expect(review.message).not.toContain(token);
  });
});
