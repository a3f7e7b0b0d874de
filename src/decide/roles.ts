import type { GerritGroup } from '../gerrit/gerrit-client.js';

/** A role someone holds and the Gerrit group it comes from, so explanations can say why. */
export interface RoleGrant {
  readonly role: string;
  /** Name of the group that gives the role. */
  readonly via: string;
}

/**
 * Roles a person holds: each role whose `gerrit_groups` names one of their groups by name or
 * UUID. Nested groups need no work here: Gerrit lists the groups an account belongs to through
 * included groups too.
 */
export function rolesForGroups(roleMap: Readonly<Record<string, readonly string[]>>, groups: readonly GerritGroup[]): RoleGrant[] {
  const grants: RoleGrant[] = [];
  for (const [role, refs] of Object.entries(roleMap).sort(([a], [b]) => a.localeCompare(b))) {
    const group = groups.find((g) => refs.includes(g.name) || refs.includes(g.id));
    if (group) grants.push({ role, via: group.name });
  }
  return grants;
}

/**
 * Roles an operator logged in through OIDC holds by their IdP group claims (`idp_groups` in
 * roles.yaml); `via` is `idp:<group>` so messages tell them apart from Gerrit groups.
 */
export function rolesForIdpGroups(idpRoles: Readonly<Record<string, readonly string[]>>, claims: readonly string[]): RoleGrant[] {
  const grants: RoleGrant[] = [];
  for (const [role, groups] of Object.entries(idpRoles).sort(([a], [b]) => a.localeCompare(b))) {
    const group = claims.find((c) => groups.includes(c));
    if (group !== undefined) grants.push({ role, via: `idp:${group}` });
  }
  return grants;
}

/** Grants from several sources, one per role: the first source that gives a role names it. */
export function mergeGrants(...sources: ReadonlyArray<readonly RoleGrant[]>): RoleGrant[] {
  const byRole = new Map<string, RoleGrant>();
  for (const grant of sources.flat()) if (!byRole.has(grant.role)) byRole.set(grant.role, grant);
  return [...byRole.values()];
}
