import type { GerritClient } from '../gerrit/gerrit-client.js';
import { rolesForGroups, type RoleGrant } from './roles.js';

/** Resolves each account's Gerrit groups to roles, one REST call per distinct account. */
export async function resolveRoles(
  gerrit: GerritClient,
  roleMap: Readonly<Record<string, readonly string[]>>,
  accountIds: Iterable<number>,
): Promise<Map<number, readonly RoleGrant[]>> {
  const roles = new Map<number, readonly RoleGrant[]>();
  for (const id of new Set(accountIds)) roles.set(id, rolesForGroups(roleMap, await gerrit.getAccountGroups(id)));
  return roles;
}
