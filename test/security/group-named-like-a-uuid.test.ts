import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeGroupRefs, rolesForGroups } from '../../src/policy/roles.js';
import { runCli } from '../helpers/run-cli.js';

/**
 * Attack (issue 11, hole 6): roles.yaml gave prod-deployer to a group by its UUID; a user in a
 * different group whose *name* was that UUID got the role and deployed. A UUID in roles.yaml
 * matches only a group's UUID, a name only a name, and `policy check` says which it took.
 */
const SRE_UUID = '9a1f5b8e2c7d4e0f8a6b3c2d1e0f9a8b7c6d5e4f';
const roleMap = { 'prod-deployer': [SRE_UUID], auditor: ['global:Registered-Users'], 'staging-deployer': ['developers'], oddly: ['name:team:blue'] };

describe('a group named like another group\'s UUID', () => {
  it('gets no role from a UUID entry', () => {
    expect(rolesForGroups(roleMap, [{ id: 'c0ffee00000000000000000000000000000000aa', name: SRE_UUID }])).toEqual([]);
  });

  it('the group with that UUID gets it', () => {
    expect(rolesForGroups(roleMap, [{ id: SRE_UUID, name: 'sre' }])).toEqual([{ role: 'prod-deployer', via: 'sre' }]);
  });

  it('a system group UUID matches only the UUID, a name only the name', () => {
    expect(rolesForGroups(roleMap, [{ id: 'x1', name: 'global:Registered-Users' }])).toEqual([]);
    expect(rolesForGroups(roleMap, [{ id: 'global:Registered-Users', name: 'Registered Users' }])).toEqual([{ role: 'auditor', via: 'Registered Users' }]);
    // a name entry does not match a group whose UUID happens to be that text
    expect(rolesForGroups(roleMap, [{ id: 'developers', name: 'other' }])).toEqual([]);
    expect(rolesForGroups(roleMap, [{ id: 'd1', name: 'developers' }])).toEqual([{ role: 'staging-deployer', via: 'developers' }]);
    // name: forces a name, for a group whose name has a colon
    expect(rolesForGroups(roleMap, [{ id: 'b1', name: 'team:blue' }])).toEqual([{ role: 'oddly', via: 'team:blue' }]);
  });

  it('describes each entry as it is read', () => {
    expect(describeGroupRefs(roleMap)).toEqual([
      'role auditor: global:Registered-Users is a group UUID',
      'role oddly: name:team:blue is a group name (team:blue)',
      `role prod-deployer: ${SRE_UUID} is a group UUID`,
      'role staging-deployer: developers is a group name',
    ]);
  });

  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('policy check says which it took for each entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rollgate-uuid-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'workflows'));
    writeFileSync(join(dir, 'roles.yaml'), `roles:\n  prod-deployer: { gerrit_groups: ["${SRE_UUID}", sre] }\n`);
    writeFileSync(join(dir, 'rollouts.yaml'), 'rollouts: []\n');
    const result = await runCli(['policy', 'check', dir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`role prod-deployer: ${SRE_UUID} is a group UUID`);
    expect(result.stdout).toContain('role prod-deployer: sre is a group name');
  });
});
