import type { GerritGroup } from '../gerrit/gerrit-client.js';

/** A role someone holds and the Gerrit group it comes from, so explanations can say why. */
export interface RoleGrant {
  readonly role: string;
  /** Name of the group that gives the role. */
  readonly via: string;
}

/**
 * How a `gerrit_groups` entry names a group. A UUID and a name are different namespaces: a UUID
 * entry matches only a group's UUID and a name entry only a group's name, so nobody can create a
 * group *named* like another group's UUID and get its role. An entry is a UUID when it is 40 hex
 * digits (an internal group) or has a scheme prefix (`global:Registered-Users`, `ldap:cn=…`);
 * `uuid:` and `name:` prefixes say it explicitly (a group whose name has a colon is `name:a:b`).
 */
export type GroupRef = { readonly kind: 'uuid' | 'name'; readonly value: string };

const INTERNAL_UUID = /^[0-9a-f]{40}$/i;
const SCHEME_UUID = /^[a-z][a-z0-9+.-]*:/i;

export function parseGroupRef(entry: string): GroupRef {
  if (entry.startsWith('name:')) return { kind: 'name', value: entry.slice('name:'.length) };
  if (entry.startsWith('uuid:')) return { kind: 'uuid', value: entry.slice('uuid:'.length) };
  if (INTERNAL_UUID.test(entry) || SCHEME_UUID.test(entry)) return { kind: 'uuid', value: entry };
  return { kind: 'name', value: entry };
}

function refMatches(ref: GroupRef, group: GerritGroup): boolean {
  return ref.kind === 'uuid' ? group.id === ref.value : group.name === ref.value;
}

/**
 * Roles a person holds: each role whose `gerrit_groups` names one of their groups, by UUID or by
 * name as `parseGroupRef` reads the entry. Nested groups need no work here: Gerrit lists the
 * groups an account belongs to through included groups too.
 */
export function rolesForGroups(roleMap: Readonly<Record<string, readonly string[]>>, groups: readonly GerritGroup[]): RoleGrant[] {
  const grants: RoleGrant[] = [];
  for (const [role, entries] of Object.entries(roleMap).sort(([a], [b]) => a.localeCompare(b))) {
    const refs = entries.map(parseGroupRef);
    const group = groups.find((g) => refs.some((r) => refMatches(r, g)));
    if (group) grants.push({ role, via: group.name });
  }
  return grants;
}

/** One line per `gerrit_groups` entry saying how it is read (what `policy check` prints). */
export function describeGroupRefs(roleMap: Readonly<Record<string, readonly string[]>>): string[] {
  return Object.entries(roleMap)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([role, entries]) =>
      entries.map((entry) => {
        const ref = parseGroupRef(entry);
        return `role ${role}: ${entry} is a group ${ref.kind === 'uuid' ? 'UUID' : 'name'}${ref.value !== entry ? ` (${ref.value})` : ''}`;
      }),
    );
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
