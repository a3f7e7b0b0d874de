import type { Router } from '@koa/router';
import { createRouter } from '../router.js';

/** What the discovery routes publish: the issuer, the claims its tokens carry, and the live public keys. */
export interface StepTokenPublisher {
  readonly issuer: string;
  readonly algorithm: string;
  readonly claims: readonly string[];
  publicKeys(): Promise<{ keys: ReadonlyArray<Record<string, unknown>> }>;
}

/**
 * rollgate as an OpenID issuer for its steps' identity tokens: `GET /.well-known/openid-configuration`
 * and `GET /.well-known/jwks.json`, open without login (Vault, AWS and GCP fetch them anonymously).
 * There is no authorization endpoint: rollgate only issues tokens to its own steps.
 */
export function stepTokenDiscoveryRoutes(publisher: StepTokenPublisher): Router {
  const router = createRouter();
  const issuer = publisher.issuer;
  router.get('/.well-known/openid-configuration', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = {
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: [publisher.algorithm],
      subject_types_supported: ['public'],
      response_types_supported: ['id_token'],
      claims_supported: publisher.claims,
      scopes_supported: ['openid'],
    };
  });
  router.get('/.well-known/jwks.json', async (ctx) => {
    // short: a new key must reach verifiers before the tokens it signs do, or they re-fetch on an unknown kid
    ctx.set('Cache-Control', 'public, max-age=60');
    ctx.body = await publisher.publicKeys();
  });
  return router;
}
