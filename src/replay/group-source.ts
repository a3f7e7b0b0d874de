import { z } from 'zod';
import { GerritError, RollgateError } from '../errors.js';
import type { GerritAccount, GerritChange, GerritClient, GerritGroup } from '../gerrit/gerrit-client.js';
import type { CommentApproval } from '../policy/decide.js';
import { votersOf } from '../policy/evaluate-change.js';
import type { Policy } from '../policy/policy-config.js';
import { rolesForGroups, type RoleGrant } from '../policy/roles.js';
import { readYamlFile } from '../read-yaml-file.js';

/** `--groups FILE`: group name → usernames, for replays without (or apart from) a Gerrit. */
const GroupsFileSchema = z.strictObject({ groups: z.record(z.string().min(1), z.array(z.string().min(1)).default([])) });

/** Where the Gerrit groups of a person come from. */
export interface GroupSource {
  groupsOf(account: GerritAccount): Promise<readonly GerritGroup[]>;
}

/** The roles of everyone whose vote or approval bears on the change, from the replay's group source. */
export async function rolesOf(policy: Policy, groups: GroupSource, change: GerritChange, commentApprovals: readonly CommentApproval[]): Promise<Map<number, readonly RoleGrant[]>> {
  const people = new Map<number, GerritAccount>();
  const voterIds = new Set(votersOf(policy, change));
  for (const votes of Object.values(change.votes)) for (const v of votes) if (voterIds.has(v.account.accountId)) people.set(v.account.accountId, v.account);
  for (const a of commentApprovals) people.set(a.account.accountId, a.account);
  const roles = new Map<number, readonly RoleGrant[]>();
  for (const [id, account] of people) roles.set(id, rolesForGroups(policy.roles, await groups.groupsOf(account)));
  return roles;
}

export function fileGroups(file: string): GroupSource {
  const read = readYamlFile(file, GroupsFileSchema);
  if (!read.ok) throw new ReplayInputError(read.problems.join('\n'));
  const byUser = new Map<string, GerritGroup[]>();
  for (const [group, users] of Object.entries(read.value.groups)) {
    for (const user of users) byUser.set(user, [...(byUser.get(user) ?? []), { id: group, name: group }]);
  }
  return { groupsOf: async (a) => byUser.get(a.username ?? a.email ?? '') ?? [] };
}

export function restGroups(rest: GerritClient | undefined): GroupSource {
  if (!rest) {
    throw new ReplayInputError(
      'rollgate replay needs group membership: give --groups FILE (YAML "groups: { <group>: [username, ...] }"), ' +
        'or configure Gerrit REST (GERRIT_URL, GERRIT_HTTP_USER, GERRIT_HTTP_PASSWORD_FILE) to read it from Gerrit',
    );
  }
  const cache = new Map<string, Promise<readonly GerritGroup[]>>();
  const lookup = async (user: string): Promise<readonly GerritGroup[]> => {
    try {
      return await rest.getAccountGroups((await rest.getAccount(user)).accountId);
    } catch (err) {
      // someone Gerrit no longer knows holds no group now
      if (err instanceof GerritError && err.httpStatus === 404) return [];
      throw err;
    }
  };
  return {
    groupsOf: (a) => {
      const user = a.username ?? a.email ?? '';
      let found = cache.get(user);
      if (!found) cache.set(user, (found = lookup(user)));
      return found;
    },
  };
}

/** A problem with what replay was given (groups file, missing Gerrit); printed as is, exit 1. */
export class ReplayInputError extends RollgateError {
  override readonly code = 'replay_input';
}
