import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RolloutRow } from '../db/schema.js';
import type { StepWork } from '../policy/workflow-config.js';

/** Where step tokens come from: rollgate's OpenID provider, by the client-credentials grant; `attempt` lets the rollout's rule set the audience. */
export interface StepCredentials {
  clientCredentials(request: { readonly audience?: string | undefined; readonly scope?: string | undefined }, attempt?: AttemptIdentity): Promise<string>;
  /** Revokes a token once its attempt has ended, where the provider offers revocation (RFC 7009). */
  revoke?(token: string): Promise<void>;
}

/** Which attempt an identity token is for, and how long it may run. */
export interface AttemptIdentity {
  readonly rollout: RolloutRow;
  readonly stepId: string;
  readonly attempt: number;
  readonly timeoutMs: number;
}

/** Signs the identity token of one step attempt (rollgate as an OpenID issuer for its steps); throws with the reason it cannot. */
export interface StepIdentityTokens {
  issue(request: AttemptIdentity): Promise<string>;
}

/** Where a step's credentials come from; either is absent while it is not configured. */
export interface CredentialSources {
  readonly oidc?: StepCredentials | undefined;
  readonly identity?: StepIdentityTokens | undefined;
}

/** What one attempt gets: variables, values its output is redacted of, and `release` (call it when the attempt ends, however). */
export interface AttemptCredentials {
  readonly env: Record<string, string>;
  readonly secrets: string[];
  release(): Promise<void>;
}

const NOTHING: AttemptCredentials = { env: {}, secrets: [], release: async () => undefined };

/**
 * What a step with `credentials` gets for one attempt. With `oidc`: a client-credentials token in
 * its environment (the variable `credentials.oidc.env`). With `identity`: a token rollgate signs for
 * this attempt, written to a file only rollgate's user can read (0600, in a fresh 0700 folder
 * under the system's temporary folder), whose path is in `credentials.identity.file_env`; the
 * folder is removed by `release`, which also revokes the client-credentials token where the
 * provider can. Either token is a secret the attempt's output is redacted of.
 * Nothing for a step without credentials; an `error` (the attempt fails with it) when a source
 * is not configured or refuses. `policy check` cannot know rollgate's settings, so this is found
 * at run time.
 */
export async function stepCredential(work: StepWork, sources: CredentialSources, attempt: AttemptIdentity): Promise<AttemptCredentials | { readonly error: string }> {
  const wanted = work.credentials;
  if (!wanted) return NOTHING;
  const env: Record<string, string> = {};
  const secrets: string[] = [];
  let folder: string | undefined;
  let clientToken: string | undefined;
  const release = async () => {
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
    // a provider that cannot revoke (or is down) leaves the token to expire: the attempt is over either way
    if (clientToken !== undefined) await sources.oidc?.revoke?.(clientToken).catch(() => undefined);
  };
  try {
    if (wanted.oidc) {
      if (!sources.oidc) return { error: 'this step asks for credentials.oidc, but OIDC is not configured (set ROLLGATE_OIDC_ISSUER, ROLLGATE_OIDC_CLIENT_ID and the client secret)' };
      try {
        const token = await sources.oidc.clientCredentials({ audience: wanted.oidc.audience, scope: wanted.oidc.scope }, attempt);
        env[wanted.oidc.env] = token;
        secrets.push(token);
        clientToken = token;
      } catch (err) {
        return { error: `getting an OIDC token for this step failed: ${(err as Error).message}` };
      }
    }
    if (wanted.identity) {
      if (!sources.identity) return { error: 'this step asks for credentials.identity, but step identity tokens are not configured (set ROLLGATE_STEP_TOKEN_KEY_FILE and ROLLGATE_PUBLIC_URL)' };
      let token: string;
      try {
        token = await sources.identity.issue(attempt);
      } catch (err) {
        return { error: `signing this step's identity token failed: ${(err as Error).message}` };
      }
      secrets.push(token);
      // written last, so no error return leaves the folder behind; mkdtemp makes it 0700, the file 0600
      folder = await mkdtemp(path.join(tmpdir(), 'rollgate-id-'));
      const file = path.join(folder, 'token.jwt');
      await writeFile(file, token, { mode: 0o600, flag: 'wx' });
      env[wanted.identity.file_env] = file;
    }
    return { env, secrets, release };
  } catch (err) {
    await release();
    return { error: `handing this step its credentials failed: ${(err as Error).message}` };
  }
}
