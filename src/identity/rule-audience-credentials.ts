import type { Policy } from '../policy/policy-config.js';
import type { IdentityProvider } from './identity-provider.js';

type ClientCredentialsRequest = Parameters<IdentityProvider['clientCredentials']>[0];

/**
 * Client-credentials tokens for steps, with the audience set by the rollout's rule
 * (`client_credentials.audience` in rollouts.yaml) where it gives one, so the policy, not the
 * workflow, decides which API a step's token is for; otherwise the workflow's
 * `credentials.oidc.audience`, as before.
 */
export function ruleAudienceCredentials(idp: Pick<IdentityProvider, 'clientCredentials' | 'revoke'>, policy: () => Policy) {
  return {
    revoke: (token: string) => idp.revoke(token),
    clientCredentials(request: ClientCredentialsRequest, attempt?: { readonly rollout: { readonly rule: string } }): Promise<string> {
      const rule = attempt ? policy().rollouts.find((r) => r.name === attempt.rollout.rule) : undefined;
      return idp.clientCredentials({ scope: request.scope, audience: rule?.client_credentials?.audience ?? request.audience });
    },
  };
}
