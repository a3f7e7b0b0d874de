import { z } from 'zod';

/** Who the IdP says a person is: the account claim's value and their group claims. */
export interface IdentityClaims {
  /** The account claim (`preferred_username` or `email` by default): how rollgate finds the Gerrit account. */
  readonly login: string;
  readonly groups: readonly string[];
}

/**
 * The claims rollgate reads from an ID token or userinfo, under the configured claim names. A
 * missing groups claim means no groups (providers leave it out for people in none); a groups
 * claim that is not a list of strings is an error, not an empty list.
 */
export function claimsSchema(accountClaim: string, groupsClaim: string): z.ZodType<IdentityClaims> {
  return z
    .looseObject({
      [accountClaim]: z.string({ error: 'missing or not a string' }).trim().min(1, 'empty'),
      [groupsClaim]: z.array(z.string(), { error: 'not a list of group names' }).optional(),
    })
    .transform((c) => ({ login: c[accountClaim] as string, groups: (c[groupsClaim] as string[] | undefined) ?? [] }));
}
