import { describe, expect, it } from 'vitest';
import { claimsSchema, UNVERIFIED_EMAIL } from '../../src/identity/identity-claims.js';

describe('claimsSchema', () => {
  const schema = claimsSchema('preferred_username', 'groups');
  const problems = (claims: unknown) => {
    const parsed = schema.safeParse(claims);
    return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('reads the account and group claims by their configured names, ignoring the rest', () => {
    expect(schema.parse({ sub: 'x', preferred_username: 'alice', groups: ['sre'], email: 'a@example.com' })).toEqual({ login: 'alice', groups: ['sre'] });
    expect(claimsSchema('email', 'roles').parse({ email: 'bob@example.com', email_verified: true, roles: ['ops'] })).toEqual({ login: 'bob@example.com', groups: ['ops'] });
  });

  it('takes a missing groups claim as no groups', () => {
    expect(schema.parse({ preferred_username: 'carol' })).toEqual({ login: 'carol', groups: [] });
  });

  it('names the claim that is missing or malformed', () => {
    expect(problems({ sub: 'x' })).toEqual(['preferred_username: missing or not a string']);
    expect(problems({ preferred_username: '  ' })).toEqual(['preferred_username: empty']);
    expect(problems({ preferred_username: 'alice', groups: 'sre' })).toEqual(['groups: not a list of group names']);
  });

  it('takes an e-mail as the account only when the provider verified it', () => {
    const byEmail = claimsSchema('email', 'groups');
    for (const verified of [false, 'true', undefined]) {
      const parsed = byEmail.safeParse({ email: 'alice@example.com', ...(verified === undefined ? {} : { email_verified: verified }) });
      expect(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([`email_verified: ${UNVERIFIED_EMAIL}`]);
    }
    // a verified-or-not e-mail is not looked at when people are found by username
    expect(schema.parse({ preferred_username: 'alice', email: 'alice@example.com', email_verified: false })).toEqual({ login: 'alice', groups: [] });
  });
});
