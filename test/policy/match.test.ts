import { describe, expect, it } from 'vitest';
import { matchingRules, whyNoRuleMatches } from '../../src/policy/match.js';
import { RolloutRuleSchema } from '../../src/policy/policy-config.js';
import { parseFooters, footer } from '../../src/policy/footers.js';
import { rolesForGroups } from '../../src/policy/roles.js';

const rule = (name: string, match: Record<string, unknown>) =>
  RolloutRuleSchema.parse({ name, match, workflow: 'w', environment: 'e', approval: { roles: ['r'] } });

describe('matchingRules', () => {
  const rules = [
    rule('api', { project: 'payments/api', branch: 'main' }),
    rule('any-payments', { project: 'payments/*', branch: 'refs/heads/main' }),
    rule('deploy-dir', { project: 'payments/api', branch: 'main', paths: ['deploy/**'] }),
    rule('release', { project: 'payments/api', branch: 'release-*' }),
  ];
  const names = (m: Parameters<typeof matchingRules>[1]) => matchingRules(rules, m).map((r) => r.name);

  it.each([
    ['exact project and short branch', { project: 'payments/api', branch: 'main' }, ['api', 'any-payments']],
    ['full ref name of the branch', { project: 'payments/api', branch: 'refs/heads/main' }, ['api', 'any-payments']],
    ['project glob', { project: 'payments/web', branch: 'main' }, ['any-payments']],
    ['paths filter matches a touched file', { project: 'payments/api', branch: 'main', files: ['deploy/k8s.yaml'] }, ['api', 'any-payments', 'deploy-dir']],
    ['branch glob', { project: 'payments/api', branch: 'release-1.2' }, ['release']],
    ['other project', { project: 'billing/api', branch: 'main' }, []],
    ['Rollout footer picks one of several', { project: 'payments/api', branch: 'main', ruleFooter: 'any-payments' }, ['any-payments']],
    ['Rollout footer naming a rule that does not match selects none', { project: 'payments/api', branch: 'main', ruleFooter: 'release' }, []],
  ])('%s', (_, merge, expected) => {
    expect(names(merge)).toEqual(expected);
  });

  it.each([
    ['no footer', { project: 'billing/api', branch: 'refs/heads/main' }, 'no rollout rule matches billing/api main'],
    ['a footer naming no rule', { project: 'payments/api', branch: 'main', ruleFooter: 'api-prod' }, 'the "Rollout: api-prod" footer names rule api-prod, which does not exist (rules: api, any-payments, deploy-dir, release); nothing rolls out'],
    ['a footer naming a rule of another branch', { project: 'payments/api', branch: 'main', ruleFooter: 'release' }, 'the "Rollout: release" footer names rule release, which does not match this change: branch main is not release-*; nothing rolls out'],
    ['a footer naming a rule of another project', { project: 'billing/api', branch: 'main', ruleFooter: 'api' }, 'the "Rollout: api" footer names rule api, which does not match this change: project billing/api is not payments/api; nothing rolls out'],
    ['a footer naming a rule for other paths', { project: 'payments/api', branch: 'main', files: ['src/a.ts'], ruleFooter: 'deploy-dir' }, 'the "Rollout: deploy-dir" footer names rule deploy-dir, which does not match this change: no file touched (src/a.ts) is under paths deploy/**; nothing rolls out'],
  ])('says why nothing matches: %s', (_, merge, why) => {
    expect(matchingRules(rules, merge)).toEqual([]);
    expect(whyNoRuleMatches(rules, merge)).toBe(why);
  });
});

describe('parseFooters', () => {
  it('reads the trailers of the last paragraph, case-insensitively', () => {
    const f = parseFooters('Subject\n\nBody with Rollout-Justification: not a footer\n\nRollout-Justification: INC-1 outage\nChange-Id: I123\n');
    expect(footer(f, 'rollout-justification')).toBe('INC-1 outage');
    expect(footer(f, 'Change-Id')).toBe('I123');
  });
  it('finds nothing in a one-paragraph message', () => {
    expect(footer(parseFooters('Rollout-Justification: x'), 'Rollout-Justification')).toBeUndefined();
  });
});

describe('rolesForGroups', () => {
  const roleMap = { 'prod-deployer': ['sre', 'payments-oncall'], auditor: ['b1e3c0f5a0e14c1f9d1e6f1a2b3c4d5e6f708192'] };
  it('maps group names and UUIDs to roles', () => {
    expect(rolesForGroups(roleMap, [{ id: 'x', name: 'sre' }])).toEqual([{ role: 'prod-deployer', via: 'sre' }]);
    expect(rolesForGroups(roleMap, [{ id: 'b1e3c0f5a0e14c1f9d1e6f1a2b3c4d5e6f708192', name: 'Auditors' }])).toEqual([{ role: 'auditor', via: 'Auditors' }]);
    expect(rolesForGroups(roleMap, [{ id: 'y', name: 'developers' }])).toEqual([]);
  });
});
