import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `npm run demo -- --once` as a user runs it: a real process that boots the throwaway Gerrit,
 * rollgate, plays two merges and exits. Without Java 17 or Maven the demo exits 1 and this test
 * fails with its output: it never skips.
 */
describe('npm run demo -- --once', () => {
  it('boots Gerrit and rollgate, rolls out an approved change, and prints where to look and what rollgate said', async () => {
    const started = Date.now();
    const { code, stdout, stderr } = await new Promise<{ code: number | string; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', path.resolve('scripts/demo.ts'), '--once'],
        // PORT 0: a CI box may already use the demo's default port
        { env: { ...process.env, PORT: '0' }, timeout: 540_000, maxBuffer: 16 * 1024 * 1024 },
        (error, out, err) => resolve({ code: error ? (error.code ?? error.signal ?? 'error') : 0, stdout: out, stderr: err }),
      );
    });
    console.log(`[demo] exit ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s; its output:\n${stdout}`);
    expect({ code, stderr: stderr.slice(-4000) }).toEqual({ code: 0, stderr: expect.any(String) });

    // where to look: the change over Gerrit REST (headless: no web UI), and rollgate's page and API
    expect(stdout).toMatch(/^Change: {3}http:\/\/127\.0\.0\.1:\d+\/changes\/payments%2Fapi~1\/detail$/m);
    expect(stdout).toMatch(/^Messages: http:\/\/127\.0\.0\.1:\d+\/changes\/payments%2Fapi~1\/messages$/m);
    expect(stdout).toMatch(/curl -s -u 'alice:[^']+' 'http:\/\/127\.0\.0\.1:\d+\/a\/changes\/payments%2Fapi~1\/messages'/);
    expect(stdout).toMatch(/^rollgate: http:\/\/[^ ]+\/rollouts\/1 \(page\), http:\/\/[^ ]+\/api\/rollouts\/1 \(API\)$/m);
    expect(stdout).not.toContain('/c/payments');

    // the decisions, and rollgate's own comments as Gerrit returned them
    expect(stdout).toMatch(/^Decision: allow — rollout #1 succeeded$/m);
    expect(stdout).toMatch(/^Decision: hold — rollout #2 held$/m);
    expect(stdout).toContain('rollgate: rollout "payments-api-prod" to production STARTED (rollout #1');
    expect(stdout).toContain('alice (prod-deployer via sre) approved with Code-Review +2');
    expect(stdout).toContain('Justification: INC-2041 checkout errors');
    expect(stdout).toMatch(/rollgate: rollout "payments-api-prod" to production SUCCEEDED in .* \(rollout #1\)/);
    expect(stdout).toContain('rollgate: rollout "payments-api-prod" to production is ON HOLD (rollout #2)');
    expect(stdout).toContain('alice (prod-deployer via sre) approved with /rollout approve');
  }, 600_000);
});
