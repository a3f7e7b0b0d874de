import type { GerritGroup } from '../gerrit/gerrit-client.js';

/** Roles a person holds: each role whose `gerrit_groups` names one of their groups by name or UUID. */
export function rolesForGroups(roleMap: Readonly<Record<string, readonly string[]>>, groups: readonly GerritGroup[]): string[] {
  const held = new Set<string>();
  for (const g of groups) {
    held.add(g.name);
    held.add(g.id);
  }
  return Object.entries(roleMap)
    .filter(([, groupRefs]) => groupRefs.some((ref) => held.has(ref)))
    .map(([role]) => role)
    .sort();
}
