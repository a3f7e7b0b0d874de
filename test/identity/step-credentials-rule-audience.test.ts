import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { TEST_AUDIENCE } from '../helpers/oidc-provider.js';
import { startRollgateWithLogin, tokenWhileStepHolds, type RollgateWithLogin } from '../helpers/rollgate-with-login.js';

/**
 * Issue 17: the audience of a step's client-credentials token may come from the rule
 * (`client_credentials.audience` in rollouts.yaml), so the policy decides which API the token is
 * for; the workflow names only the scope and the variable.
 */
const ROLLOUTS = `${readFileSync('test/fixtures/policies/rollouts.yaml', 'utf8').trimEnd()}
    client_credentials: { audience: "${TEST_AUDIENCE}" }
`;

const WORKFLOW = `name: deploy-service
steps:
  - id: deploy
    run: ["./ops/oidc-step.mjs", "DEPLOYER_TOKEN"]
    credentials:
      oidc: { scope: deploy, env: DEPLOYER_TOKEN }
`;

describe.each(BACKENDS)('%s: the rule sets the audience of a client-credentials token', (backend) => {
  let r: RollgateWithLogin;

  beforeAll(async () => {
    r = await startRollgateWithLogin(backend, { workflow: WORKFLOW, rollouts: ROLLOUTS });
  });

  afterAll(async () => {
    await r?.stop();
  });

  it("gets the step a token for the rule's audience, though the workflow names none", async () => {
    expect(ROLLOUTS).toMatch(/justification: required\n {4}client_credentials:/);
    // the step runs on until told: its token is revoked when the attempt ends
    const finished = await tokenWhileStepHolds(r, 811, async (token) => {
      expect(await r.idp.introspect(token)).toMatchObject({ active: true, client_id: 'rollgate', aud: TEST_AUDIENCE, scope: 'deploy' });
    });
    expect(finished).toContain('SUCCEEDED');
  });
});
