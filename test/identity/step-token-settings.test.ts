import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { loadPolicy } from '../../src/load-policy.js';
import { tempDir } from '../helpers/temp-dir.js';

/** The settings and policy fields of step identity tokens: checked where they are read, errors naming the setting or the file and field. */
const tmp = tempDir('rollgate-step-token-settings-');
const keyFile = path.join(tmp, 'key');
writeFileSync(keyFile, 'an encryption secret of more than thirty-two characters\n');
const shortKey = path.join(tmp, 'short');
writeFileSync(shortKey, 'too short\n');

describe('step token settings', () => {
  it('are off by default, and on with a key file and the public URL (the issuer)', () => {
    expect(loadConfig({}).stepTokens).toBeUndefined();
    const config = loadConfig({ ROLLGATE_STEP_TOKEN_KEY_FILE: keyFile, ROLLGATE_PUBLIC_URL: 'https://rollgate.example.com/' });
    expect(config.stepTokens).toEqual({ issuer: 'https://rollgate.example.com', keySecret: 'an encryption secret of more than thirty-two characters', rotateMs: 7 * 86_400_000 });
    // the key is one of the secrets steps' output is redacted of
    expect(config.secrets).toContain('an encryption secret of more than thirty-two characters');
    expect(loadConfig({ ROLLGATE_STEP_TOKEN_KEY_FILE: keyFile, ROLLGATE_PUBLIC_URL: 'https://r.example.com', ROLLGATE_STEP_TOKEN_ROTATE: '1d' }).stepTokens?.rotateMs).toBe(86_400_000);
  });

  it('name what is wrong', () => {
    expect(() => loadConfig({ ROLLGATE_STEP_TOKEN_KEY_FILE: keyFile })).toThrow('ROLLGATE_STEP_TOKEN_KEY_FILE: step identity tokens need ROLLGATE_PUBLIC_URL');
    expect(() => loadConfig({ ROLLGATE_STEP_TOKEN_KEY_FILE: shortKey, ROLLGATE_PUBLIC_URL: 'https://r.example.com' })).toThrow('ROLLGATE_STEP_TOKEN_KEY_FILE: use at least 32 characters');
    expect(() => loadConfig({ ROLLGATE_STEP_TOKEN_KEY_FILE: path.join(tmp, 'missing'), ROLLGATE_PUBLIC_URL: 'https://r.example.com' })).toThrow(/ROLLGATE_STEP_TOKEN_KEY_FILE: cannot read .*missing: ENOENT/);
    expect(() => loadConfig({ ROLLGATE_STEP_TOKEN_KEY_FILE: keyFile, ROLLGATE_PUBLIC_URL: 'https://r.example.com', ROLLGATE_STEP_TOKEN_ROTATE: '30s' })).toThrow('ROLLGATE_STEP_TOKEN_ROTATE: a duration from 5m to 365d');
  });
});

function policyProblems(rollouts: string, workflow: string): string {
  const dir = mkdtempSync(path.join(tmp, 'policy-'));
  mkdirSync(path.join(dir, 'workflows'));
  writeFileSync(path.join(dir, 'roles.yaml'), readFileSync('test/fixtures/policies/roles.yaml'));
  writeFileSync(path.join(dir, 'rollouts.yaml'), rollouts);
  writeFileSync(path.join(dir, 'workflows/deploy.yaml'), workflow);
  try {
    loadPolicy(dir);
    return '';
  } catch (err) {
    return (err as Error).message.replaceAll(dir, '<dir>');
  }
}

const RULE = `rollouts:
  - name: prod
    match: { project: p, branch: main }
    workflow: deploy
    environment: production
    approval: { roles: [prod-deployer] }
`;

describe('step tokens in the policy', () => {
  it('a rule gives the audience; a step asks with credentials.identity', () => {
    const workflow = 'name: deploy\nsteps:\n  - id: a\n    run: ["true"]\n    credentials: { identity: {} }\n';
    expect(policyProblems(`${RULE}    step_token: { audience: vault }\n`, workflow)).toBe('');
  });

  it('a workflow asking for a token under a rule without step_token is named, with where it asks', () => {
    const workflow = 'name: deploy\nsteps:\n  - id: a\n    run: ["true"]\n    credentials: { identity: { file_env: ID_FILE } }\n    undo: { run: ["true"], credentials: { identity: {} } }\nrollback:\n  - id: r\n    run: ["true"]\n    credentials: { identity: {} }\n';
    expect(policyProblems(RULE, workflow)).toContain('<dir>/rollouts.yaml: rollouts[0].step_token: missing; workflow "deploy" asks for an identity token at steps[0], steps[0].undo, rollback[0]');
  });

  it("a rule's client_credentials.audience leaves the workflow no other audience", () => {
    const rule = `${RULE}    client_credentials: { audience: "https://deployer.example/api" }\n`;
    expect(policyProblems(rule, 'name: deploy\nsteps:\n  - id: a\n    run: ["true"]\n    credentials: { oidc: { scope: deploy } }\n')).toBe('');
    expect(policyProblems(rule, 'name: deploy\nsteps:\n  - id: a\n    run: ["true"]\n    credentials: { oidc: { audience: "https://elsewhere.example/api" } }\n')).toContain(
      '<dir>/rollouts.yaml: rollouts[0].client_credentials.audience: "https://deployer.example/api", but workflow "deploy" asks for "https://elsewhere.example/api" at steps[0]',
    );
  });

  it('refuses a bad shape, naming the field', () => {
    expect(policyProblems(`${RULE}    step_token: { audience: "" }\n`, 'name: deploy\nsteps:\n  - id: a\n    run: ["true"]\n')).toMatch(/rollouts\.yaml: rollouts\[0\]\.step_token\.audience/);
    expect(policyProblems(`${RULE}    step_token: { audience: v, lifetime: 1h }\n`, 'name: deploy\nsteps:\n  - id: a\n    run: ["true"]\n')).toMatch(/rollouts\[0\]\.step_token.*lifetime/);
    const rule = `${RULE}    step_token: { audience: vault }\n`;
    expect(policyProblems(rule, 'name: deploy\nsteps:\n  - id: a\n    run: ["true"]\n    credentials: {}\n')).toMatch(/deploy\.yaml: steps\[0\]\.credentials \(line 5\): give oidc, identity or both/);
    expect(policyProblems(rule, 'name: deploy\nsteps:\n  - id: a\n    run: ["true"]\n    env: { ID: x }\n    credentials: { identity: { file_env: ID } }\n')).toContain('steps[0].credentials.identity.file_env: ID is also set in env');
    expect(policyProblems(rule, 'name: deploy\nsteps:\n  - id: a\n    run: ["true"]\n    credentials: { identity: { file_env: "1X" } }\n')).toMatch(/steps\[0\]\.credentials\.identity\.file_env/);
  });
});
