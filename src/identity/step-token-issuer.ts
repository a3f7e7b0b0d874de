import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Policy } from '../policy/policy-config.js';
import { MAX_STEP_TOKEN_LIFETIME_MS, STEP_TOKEN_ALGORITHM, type StepTokenKeys } from './step-token-keys.js';

/** What a step token is issued for: one attempt of one step of one rollout. */
export interface StepTokenRequest {
  readonly rollout: {
    readonly id: number;
    readonly rule: string;
    readonly environment: string;
    readonly project: string;
    readonly branch: string;
    readonly change_number: number;
    readonly revision: string;
    /** As stored with the rollout: the counted approvers (`display` is the Gerrit username where there is one). */
    readonly approvers: unknown;
  };
  readonly stepId: string;
  readonly attempt: number;
  /** How long the attempt may run; the token lives this plus a margin, at most an hour. */
  readonly timeoutMs: number;
}

/** The claims of a step token besides iss, aud, iat, nbf, exp and jti. */
export interface StepTokenClaims {
  readonly sub: string;
  readonly project: string;
  readonly branch: string;
  readonly change: number;
  readonly revision: string;
  readonly rollout: number;
  readonly step: string;
  readonly attempt: number;
  readonly environment: string;
  readonly rule: string;
  readonly approvers: string[];
  readonly policy_digest: string;
}

/** Time a step's token outlives its attempt's timeout, for a slow start and the receiver's clock. */
export const STEP_TOKEN_MARGIN_MS = 60_000;

/** Every claim a step token carries, as `/.well-known/openid-configuration` lists them. */
export const STEP_TOKEN_CLAIMS = ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'project', 'branch', 'change', 'revision', 'rollout', 'step', 'attempt', 'environment', 'rule', 'approvers', 'policy_digest'] as const;

/**
 * Signs the identity token of one step attempt: rollgate as an OpenID issuer (`iss` is its public
 * URL), the audience from the rollout's rule (`step_token.audience` in rollouts.yaml), and claims
 * that say which project, change, rollout, step, environment and approvers it is for, so the
 * receiving system can limit a role to, say, production of one project.
 */
export class StepTokenIssuer {
  readonly #keys: StepTokenKeys;
  readonly #issuer: string;
  readonly #policy: () => Policy;
  readonly #now: () => Date;

  constructor(o: { readonly keys: StepTokenKeys; readonly issuer: string; readonly policy: () => Policy; readonly now?: () => Date }) {
    this.#keys = o.keys;
    this.#issuer = o.issuer;
    this.#policy = o.policy;
    this.#now = o.now ?? (() => new Date());
  }

  get issuer(): string {
    return this.#issuer;
  }

  /** A signed token for the attempt; throws (with the reason) when its rule has no `step_token`. */
  async issue(request: StepTokenRequest): Promise<string> {
    const policy = this.#policy();
    const r = request.rollout;
    const rule = policy.rollouts.find((x) => x.name === r.rule);
    if (!rule) throw new Error(`rule "${r.rule}" is no longer in the policy, so there is no audience for a step token`);
    if (!rule.step_token) throw new Error(`rule "${r.rule}" has no step_token.audience in rollouts.yaml`);
    const claims = stepTokenClaims(request, policy.version);
    const now = this.#now().getTime();
    const lifetimeMs = Math.min(request.timeoutMs + STEP_TOKEN_MARGIN_MS, MAX_STEP_TOKEN_LIFETIME_MS);
    const seconds = (ms: number) => Math.floor(ms / 1000);
    const { kid, key } = await this.#keys.signingKey();
    const { sub, ...rest } = claims;
    return new SignJWT({ ...rest })
      .setProtectedHeader({ alg: STEP_TOKEN_ALGORITHM, kid, typ: 'JWT' })
      .setIssuer(this.#issuer)
      .setSubject(sub)
      .setAudience(rule.step_token.audience)
      .setIssuedAt(seconds(now))
      .setNotBefore(seconds(now))
      .setExpirationTime(seconds(now + lifetimeMs))
      .setJti(randomUUID())
      .sign(key);
  }
}

/** The claims that say what a token is for; `sub` joins project, environment and rule so a trust policy can match on one string. */
export function stepTokenClaims(request: StepTokenRequest, policyDigest: string): StepTokenClaims {
  const r = request.rollout;
  return {
    sub: `project:${r.project}:environment:${r.environment}:rule:${r.rule}`,
    project: r.project,
    branch: r.branch,
    change: r.change_number,
    revision: r.revision,
    rollout: r.id,
    step: request.stepId,
    attempt: request.attempt,
    environment: r.environment,
    rule: r.rule,
    approvers: approverNames(r.approvers),
    policy_digest: policyDigest,
  };
}

function approverNames(stored: unknown): string[] {
  if (!Array.isArray(stored)) return [];
  return stored.flatMap((a: unknown) => (typeof a === 'object' && a !== null && typeof (a as { display?: unknown }).display === 'string' ? [(a as { display: string }).display] : []));
}
