import { cpSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

function policyCopy(): string {
  const dir = tempDir('rollgate-policy-');
  cpSync(path.resolve('policies'), dir, { recursive: true });
  return dir;
}

describe('rollgate policy check', () => {
  it('accepts the shipped example policy', async () => {
    const r = await runCli(['policy', 'check', 'policies']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      'policies: ok (4 roles, 2 rollout rules, 1 workflows)\n' +
        '  role prod-deployer: sre is a group name\n' +
        '  role prod-deployer: payments-oncall is a group name\n' +
        '  role release-manager: release-managers is a group name\n' +
        '  role security: security-team is a group name\n' +
        '  role staging-deployer: developers is a group name\n',
    );
    expect(r.code).toBe(0);
  });

  it('lists every problem as file: path: problem and exits non-zero', async () => {
    const dir = policyCopy();
    writeFileSync(
      path.join(dir, 'rollouts.yaml'),
      [
        'rollouts:',
        '  - name: api',
        '    match: { project: payments/api, branch: main }',
        '    workflow: missing-workflow',
        '    environment: production',
        '    approval:',
        '      roles: [prod-deployer, nobody]',
        '      min_approver: 2',
        '',
      ].join('\n'),
    );
    writeFileSync(
      path.join(dir, 'workflows', 'deploy-service.yaml'),
      ['name: deploy-service', 'steps:', '  - id: build', '    run: ["./b.sh"]', '    timeout: ten minutes', ''].join('\n'),
    );
    const r = await runCli(['policy', 'check', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      'invalid policy:',
      `${dir}/rollouts.yaml: rollouts[0].approval.min_approver (line 8): unknown key`,
      `${dir}/workflows/deploy-service.yaml: steps[0].timeout (line 5): not a duration (e.g. 30s, 10m, 2h)`,
    ]);
  });

  it('checks roles.yaml: a role needs some group, audit_readers must name roles', async () => {
    const dir = policyCopy();
    writeFileSync(
      path.join(dir, 'roles.yaml'),
      ['roles:', '  prod-deployer: { gerrit_groups: [sre], idp_groups: [ops] }', '  staging-deployer: {}', '  release-manager: { idp_groups: [release] }', 'audit_readers: [auditor]', ''].join('\n'),
    );
    const r = await runCli(['policy', 'check', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${dir}/roles.yaml: roles.staging-deployer (line 3): a role needs gerrit_groups or idp_groups`);

    writeFileSync(path.join(dir, 'roles.yaml'), ['roles:', '  prod-deployer: { gerrit_groups: [sre] }', '  staging-deployer: { gerrit_groups: [dev] }', '  release-manager: { idp_groups: [release] }', '  security: { gerrit_groups: [security-team] }', 'audit_readers: [auditor]', ''].join('\n'));
    const again = await runCli(['policy', 'check', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toEqual(['invalid policy:', `${dir}/roles.yaml: audit_readers[0]: no role "auditor" in roles.yaml`]);
  });

  it('checks needs and variables once a workflow is well-formed', async () => {
    const dir = policyCopy();
    writeFileSync(
      path.join(dir, 'workflows', 'deploy-service.yaml'),
      ['name: deploy-service', 'steps:', '  - id: build', '    run: ["./b.sh", "${change.nope}"]', '  - id: ship', '    needs: [later]', '    run: ["./s.sh"]', ''].join('\n'),
    );
    const r = await runCli(['policy', 'check', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${dir}/workflows/deploy-service.yaml: steps[1].needs[0]: no step "later" in this workflow`);
    expect(r.stderr).toContain(`${dir}/workflows/deploy-service.yaml: steps[0].run[1]: unknown variable \${change.nope}`);
  });

  it('reports cross-file mistakes: unknown roles and workflows', async () => {
    const dir = policyCopy();
    writeFileSync(
      path.join(dir, 'rollouts.yaml'),
      'rollouts:\n  - name: api\n    match: { project: p, branch: main }\n    workflow: nope\n    environment: prod\n    approval: { roles: [ghost] }\n',
    );
    const r = await runCli(['policy', 'check', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${dir}/rollouts.yaml: rollouts[0].workflow: no workflow "nope" in ${dir}/workflows`);
    expect(r.stderr).toContain(`${dir}/rollouts.yaml: rollouts[0].approval.roles[0]: no role "ghost" in roles.yaml`);
  });

  it('checks the roles of approval steps inside workflows', async () => {
    const dir = policyCopy();
    writeFileSync(
      path.join(dir, 'workflows', 'deploy-service.yaml'),
      ['name: deploy-service', 'steps:', '  - id: build', '    run: ["./b.sh"]', '  - id: promote', '    needs: [build]', '    approval: { roles: [nobody], timeout: 1h }', ''].join('\n'),
    );
    const r = await runCli(['policy', 'check', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${dir}/workflows/deploy-service.yaml: steps[1].approval.roles[0]: no role "nobody" in roles.yaml`);
  });

  it('reports YAML syntax errors with the line', async () => {
    const dir = policyCopy();
    writeFileSync(path.join(dir, 'roles.yaml'), ['roles:', '  prod-deployer: { gerrit_groups: [sre] }', '  staging-deployer: { gerrit_groups: [developers] }', '  release-manager: gerrit_groups: [release]', ''].join('\n'));
    const r = await runCli(['policy', 'check', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual(['invalid policy:', `${dir}/roles.yaml: line 4: Nested mappings are not allowed in compact mappings`]);
  });

  it('names the field inside one approval group, whether written as one group or a list', async () => {
    const dir = policyCopy();
    const rule = (approval: string[]) => ['rollouts:', '  - name: api', '    match: { project: payments/api, branch: main }', '    workflow: deploy-service', '    environment: production', ...approval, ''].join('\n');
    writeFileSync(path.join(dir, 'rollouts.yaml'), rule(['    approval:', '      roles: [prod-deployer]', '      min_approvers: two']));
    const one = await runCli(['policy', 'check', dir]);
    expect(one.code).toBe(1);
    expect(one.stderr.trim().split('\n')).toEqual(['invalid policy:', `${dir}/rollouts.yaml: rollouts[0].approval.min_approvers (line 8): Invalid input: expected number, received string`]);

    writeFileSync(path.join(dir, 'rollouts.yaml'), rule(['    approval:', '      - { roles: [prod-deployer] }', '      - { roles: [release-manager], min_value: high }']));
    const list = await runCli(['policy', 'check', dir]);
    expect(list.stderr.trim().split('\n')).toEqual(['invalid policy:', `${dir}/rollouts.yaml: rollouts[0].approval[1].min_value (line 8): Invalid input: expected number, received string`]);
  });

  it('reports bad cron expressions, time zones, globs and break-glass roles', async () => {
    const dir = policyCopy();
    writeFileSync(
      path.join(dir, 'rollouts.yaml'),
      [
        'rollouts:',
        '  - name: api',
        '    match: { project: "payments/[api", branch: main, paths: ["src/**", "docs/{a,b" ] }',
        '    workflow: deploy-service',
        '    environment: prod',
        '    approval: { roles: [prod-deployer] }',
        '    windows:',
        '      deny: [{ cron: "* 25 * * *", tz: UTC, reason: bad hour }]',
        '      allow: [{ cron: "* * * *", tz: Mars/Olympus, reason: bad zone }]',
        '    break_glass: { roles: [ghost] }',
        '',
      ].join('\n'),
    );
    const r = await runCli(['policy', 'check', dir]);
    expect(r.code).toBe(1);
    const at = `${dir}/rollouts.yaml: rollouts[0]`;
    expect(r.stderr).toContain(`${at}.break_glass.roles[0]: no role "ghost" in roles.yaml`);
    expect(r.stderr).toMatch(new RegExp(`${at.replace(/[[\]]/g, '\\$&')}\\.windows\\.deny\\[0\\]: cron "\\* 25 \\* \\* \\*": `));
    expect(r.stderr).toContain(`${at}.windows.allow[0]: cron "* * * *" must have 5 fields (minute hour day-of-month month day-of-week)`);
    expect(r.stderr).toContain(`${at}.windows.allow[0]: tz "Mars/Olympus" is not a known time zone (use an IANA name such as UTC or Europe/Berlin)`);
    expect(r.stderr).toContain(`${at}.match.project: "payments/[api": unbalanced "[]" in the pattern`);
    expect(r.stderr).toContain(`${at}.match.paths[1]: "docs/{a,b": unbalanced "{}" in the pattern`);
  });
});

describe('rollgate (usage)', () => {
  it('prints usage and exits 2 on an unknown command', async () => {
    const r = await runCli(['deploy-everything']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command: deploy-everything');
    expect(r.stderr).toContain('policy check [dir]');
  });

  it('stops on a bad setting with a message naming it', async () => {
    const r = await runCli(['migrate'], { PORT: 'eighty', ROLLGATE_DATA_DIR: 'memory://' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid configuration:');
    expect(r.stderr).toContain('PORT: ');
  });

  it('says which Gerrit settings are missing when only some are given', async () => {
    const r = await runCli(['migrate'], { GERRIT_SSH_HOST: 'gerrit.example', ROLLGATE_DATA_DIR: 'memory://' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('Gerrit SSH is partly configured: also set GERRIT_SSH_USER, GERRIT_SSH_KEY_FILE, GERRIT_SSH_HOST_KEY');
  });
});
