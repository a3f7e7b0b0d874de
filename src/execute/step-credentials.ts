import type { StepWork } from '../policy/workflow-config.js';

/** Where step tokens come from: rollgate's OpenID provider, by the client-credentials grant. */
export interface StepCredentials {
  clientCredentials(request: { readonly audience?: string | undefined; readonly scope?: string | undefined }): Promise<string>;
}

/**
 * What a step with `credentials.oidc` gets for one attempt: the token in its environment (the
 * variable `credentials.oidc.env`) and as a secret its output is redacted of. Nothing for a step
 * without credentials; an `error` (the attempt fails with it) when OIDC is not configured or the
 * provider refuses. `policy check` cannot know rollgate's settings, so this is found at run time.
 */
export async function stepCredential(
  work: StepWork,
  provider: StepCredentials | undefined,
): Promise<{ readonly env: Record<string, string>; readonly secrets: string[] } | { readonly error: string }> {
  const wanted = work.credentials?.oidc;
  if (!wanted) return { env: {}, secrets: [] };
  if (!provider) return { error: 'this step asks for credentials.oidc, but OIDC is not configured (set ROLLGATE_OIDC_ISSUER, ROLLGATE_OIDC_CLIENT_ID and the client secret)' };
  try {
    const token = await provider.clientCredentials({ audience: wanted.audience, scope: wanted.scope });
    return { env: { [wanted.env]: token }, secrets: [token] };
  } catch (err) {
    return { error: `getting an OIDC token for this step failed: ${(err as Error).message}` };
  }
}
