import { describe, expect, it } from 'vitest';
import { checkWorkflow, DEFAULT_STEP_TIMEOUT, findCycle, WorkflowFileSchema } from '../../src/policy/workflow-config.js';
import { interpolateJson, interpolateUrl } from '../../src/policy/interpolate.js';
import { redact, redactedTail, secretValues } from '../../src/execute/redact.js';
import { stepRetryDelay } from '../../src/execute/retry-backoff.js';

const check = (spec: Record<string, unknown>) => {
  const parsed = WorkflowFileSchema.safeParse(spec);
  if (!parsed.success) return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  return checkWorkflow('w.yaml', parsed.data);
};

describe('checkWorkflow', () => {
  it('accepts needs in any order that forms a DAG', () => {
    expect(check({ name: 'w', steps: [{ id: 'b', needs: ['a'], run: ['x'] }, { id: 'a', run: ['x'] }] })).toEqual([]);
  });

  it('names unknown needs, self needs and cycles', () => {
    expect(
      check({
        name: 'w',
        steps: [
          { id: 'a', needs: ['c'], run: ['x'] },
          { id: 'b', needs: ['a', 'nope'], run: ['x'] },
          { id: 'c', needs: ['b'], run: ['x'] },
          { id: 'd', needs: ['d'], run: ['x'] },
        ],
      }),
    ).toEqual([
      'w.yaml: steps[1].needs[1]: no step "nope" in this workflow',
      'w.yaml: steps[3].needs[0]: a step cannot need itself',
      'w.yaml: steps: needs form a cycle: a needs c needs b needs a',
    ]);
  });

  it('takes credentials.oidc on run steps, with ROLLGATE_OIDC_TOKEN as the default variable', () => {
    const parsed = WorkflowFileSchema.parse({ name: 'w', steps: [{ id: 'a', run: ['x'], credentials: { oidc: { audience: 'https://api.example', scope: 'deploy' } } }] });
    expect(parsed.steps[0]!.credentials).toEqual({ oidc: { audience: 'https://api.example', scope: 'deploy', env: 'ROLLGATE_OIDC_TOKEN' } });
    expect(check({ name: 'w', steps: [{ id: 'a', run: ['x'], credentials: { oidc: {} } }] })).toEqual([]);
    expect(check({ name: 'w', steps: [{ id: 'd', run: ['x'], credentials: { oidc: { env: 'not a name', audiance: 'x' } } }] })).toEqual([
      'steps.0.credentials.oidc.env: an environment variable name',
      'steps.0.credentials.oidc: Unrecognized key: "audiance"',
    ]);
    expect(
      check({
        name: 'w',
        steps: [
          { id: 'a', http: { url: 'https://x.example' }, credentials: { oidc: {} } },
          { id: 'b', run: ['x'], env: { TOKEN: 'x' }, credentials: { oidc: { env: 'TOKEN' } } },
          { id: 'c', wait: '1s', credentials: { oidc: {} } },
        ],
      }),
    ).toEqual([
      'w.yaml: steps[0].credentials: apply to run steps only (the token is passed in the environment)',
      'w.yaml: steps[1].credentials.oidc.env: TOKEN is also set in env; the token would replace it',
      'w.yaml: steps[2].credentials: apply to run steps only (the token is passed in the environment)',
    ]);
  });

  it('wants exactly one of run, http, approval, wait per step', () => {
    expect(check({ name: 'w', steps: [{ id: 'a', run: ['x'], wait: '1s' }, { id: 'b' }] })).toEqual([
      'steps.0: give exactly one of run, http, approval, wait (found run, wait)',
      'steps.1: give exactly one of run, http, approval, wait',
    ]);
  });

  it('checks variables in argv, http url, headers, JSON values and env, and keeps cwd fixed', () => {
    expect(
      check({
        name: 'w',
        steps: [
          { id: 'a', run: ['x', '${change.nope}'], cwd: '${change.project}', env: { A: '${params.missing}' } },
          { id: 'b', http: { url: '${env.URL}/x/${bad}', headers: { 'X-A': '${alsobad}' }, json: { a: ['${change.number}', { b: '${worse}' }] } } },
          { id: 'c', approval: { roles: ['prod-deployer'] }, retry: { attempts: 2 } },
        ],
      }),
    ).toEqual([
      'w.yaml: steps[0].run[1]: unknown variable ${change.nope}',
      'w.yaml: steps[0].env.A: unknown variable ${params.missing}',
      'w.yaml: steps[0].cwd: no ${…} here; a working directory is fixed in the workflow',
      'w.yaml: steps[1].http.url: unknown variable ${bad}',
      'w.yaml: steps[1].http.headers.X-A: unknown variable ${alsobad}',
      'w.yaml: steps[1].http.json.a[1].b: unknown variable ${worse}',
      'w.yaml: steps[2]: retry, cwd and env apply to run and http steps only',
    ]);
  });

  it('refuses a step-level timeout on approval and wait steps, naming the setting that is meant', () => {
    expect(
      check({
        name: 'w',
        steps: [
          { id: 'gate', approval: { roles: ['prod-deployer'] }, timeout: '2h' },
          { id: 'soak', wait: '10m', timeout: '1h' },
          { id: 'ok', approval: { roles: ['prod-deployer'], timeout: '2h' } },
        ],
      }),
    ).toEqual([
      'w.yaml: steps[0].timeout: does not apply to an approval step; set approval.timeout (how long the gate waits, default 24h)',
      'w.yaml: steps[1].timeout: does not apply to a wait step; it waits exactly its wait duration',
    ]);
  });

  it('leaves a run or http step without timeout to the 10m default', () => {
    const parsed = WorkflowFileSchema.parse({ name: 'w', steps: [{ id: 'a', run: ['x'] }, { id: 'b', run: ['x'], timeout: '1h30m' }] });
    expect(parsed.steps.map((s) => s.timeout ?? DEFAULT_STEP_TIMEOUT)).toEqual(['10m', '1h30m']);
  });

  it('refuses a json body on GET and HEAD requests, in steps, undo and rollback', () => {
    expect(
      check({
        name: 'w',
        steps: [
          { id: 'a', http: { method: 'GET', url: 'https://x.example', json: { a: 1 } }, undo: { http: { method: 'HEAD', url: 'https://x.example', json: 'x' } } },
          { id: 'b', http: { method: 'DELETE', url: 'https://x.example', json: { a: 1 } } },
        ],
        rollback: [{ id: 'r', http: { method: 'GET', url: 'https://x.example', json: [] } }],
      }),
    ).toEqual([
      'w.yaml: steps[0].http.json: a GET request has no body; use POST, PUT, PATCH or DELETE to send json',
      'w.yaml: steps[0].undo.http.json: a HEAD request has no body; use POST, PUT, PATCH or DELETE to send json',
      'w.yaml: rollback[0].http.json: a GET request has no body; use POST, PUT, PATCH or DELETE to send json',
    ]);
  });

  it('finds no cycle in a diamond', () => {
    expect(findCycle([{ id: 'a', needs: [] }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['a'] }, { id: 'd', needs: ['b', 'c'] }])).toBeUndefined();
  });
});

describe('interpolateJson', () => {
  it('substitutes inside string values only; keys, numbers and structure stay', () => {
    const hostile = '", "admin": true, "x": "';
    expect(interpolateJson({ '${s}': ['${s}', 1, null, { v: 'a${s}b' }] }, { s: hostile })).toEqual({ '${s}': [hostile, 1, null, { v: `a${hostile}b` }] });
  });
});

describe('interpolateUrl', () => {
  it('keeps the operator\'s env values as written and percent-encodes change data', () => {
    const vars = { 'env.DEPLOYER_URL': 'https://deploy.example/api', 'change.subject': '../../admin?x=1#frag', newRev: 'abc123' };
    expect(interpolateUrl('${env.DEPLOYER_URL}/deploy/${newRev}?why=${change.subject}', vars)).toBe('https://deploy.example/api/deploy/abc123?why=..%2F..%2Fadmin%3Fx%3D1%23frag');
  });
});

describe('redaction', () => {
  it('hides values of secret-looking variables and configured secrets, longest first', () => {
    const secrets = secretValues({ DEPLOY_TOKEN: 'tok-123456', PATH: '/usr/bin', DB_PASSWORD: 'tok-123456-long', SHORT_KEY: 'ab' }, ['gerrit-pw']);
    expect(secrets).toEqual(['tok-123456-long', 'tok-123456', 'gerrit-pw']);
    expect(redact('a tok-123456-long b tok-123456 c gerrit-pw /usr/bin', secrets)).toBe('a [redacted] b [redacted] c [redacted] /usr/bin');
  });

  it('redacts before cutting the tail, so half a secret at the cut is not kept', () => {
    const text = 'x'.repeat(10) + 'supersecret' + 'y'.repeat(20);
    expect(redactedTail(text, ['supersecret'], 25)).toBe('…' + '[redacted]'.slice(-5) + 'y'.repeat(20));
  });
});

describe('stepRetryDelay', () => {
  it('doubles per attempt with half of it jittered, up to the cap', () => {
    const retry = { backoff: '1s', max_backoff: '5s' };
    expect([1, 2, 3, 4].map((a) => stepRetryDelay(retry, a, () => 0))).toEqual([500, 1000, 2000, 2500]);
    expect([1, 2, 3, 4].map((a) => stepRetryDelay(retry, a, () => 1))).toEqual([1000, 2000, 4000, 5000]);
  });
});
