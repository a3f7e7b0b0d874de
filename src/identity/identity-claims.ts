import { z } from 'zod';

/** Who the IdP says a person is: the account claim's value and their group claims. */
export interface IdentityClaims {
  /** The account claim (`preferred_username` or `email` by default): how rollgate finds the Gerrit account. */
  readonly login: string;
  readonly groups: readonly string[];
}

/**
 * Said when the account claim is `email` and the provider has not verified the address: many
 * providers let people type any address into their profile or sign up with one, and Gerrit
 * finds the account by that address, so an unverified one could name someone else's account.
 */
export const UNVERIFIED_EMAIL = 'the identity provider has not verified this e-mail address (email_verified is not true), so it cannot name a Gerrit account';

/**
 * The claims rollgate reads from an ID token or userinfo, under the configured claim names. A
 * missing groups claim means no groups (providers leave it out for people in none); a groups
 * claim that is not a list of strings is an error, not an empty list. When people are mapped to
 * Gerrit accounts by `email`, the provider must say it verified it (`email_verified: true`).
 */
export function claimsSchema(accountClaim: string, groupsClaim: string): z.ZodType<IdentityClaims> {
  return z
    .looseObject({
      [accountClaim]: z.string({ error: 'missing or not a string' }).trim().min(1, 'empty'),
      [groupsClaim]: z.array(z.string(), { error: 'not a list of group names' }).optional(),
      ...(accountClaim === 'email' ? { email_verified: z.literal(true, { error: UNVERIFIED_EMAIL }) } : {}),
    })
    .transform((c) => ({ login: c[accountClaim] as string, groups: (c[groupsClaim] as string[] | undefined) ?? [] }));
}
