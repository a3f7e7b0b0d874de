import { describe, expect, it } from 'vitest';
import { finishedMessage, holdMessage, MAX_MESSAGE_BYTES, startedMessage, type RolloutSummary, type StepSummary } from '../../src/report/format-message.js';

const summary: RolloutSummary = {
  id: 7,
  rule: 'api-prod',
  environment: 'production',
  workflow: 'deploy-service',
  reasons: [
    { code: 'self-approval', message: "bob's Code-Review +2 does not count: bob owns the change (no self-approval)" },
    { code: 'not-enough-approvers', message: 'rule api-prod needs 1 approver …; 0 found, 1 missing.' },
  ],
  approvers: [{ accountId: 1, display: 'alice', value: 2, via: 'Code-Review +2', roles: ['prod-deployer'], groups: ['sre'] }],
  justification: 'INC-9',
  link: 'https://rollgate.example/api/rollouts/7',
};

const step = (stepId: string, status: string, extra: Partial<StepSummary> = {}): StepSummary => ({
  stepId,
  status,
  attempts: 1,
  exitCode: 0,
  durationMs: 1234,
  outputTail: null,
  error: null,
  ...extra,
});

describe('review messages', () => {
  it('a hold says what is missing apart from what was checked', () => {
    expect(holdMessage(summary)).toBe(
      [
        'rollgate: rollout "api-prod" to production is ON HOLD (rollout #7).',
        'What is missing:\n* rule api-prod needs 1 approver …; 0 found, 1 missing.',
        "What was checked:\n* bob's Code-Review +2 does not count: bob owns the change (no self-approval)",
        'Details: https://rollgate.example/api/rollouts/7',
      ].join('\n\n'),
    );
  });

  it('a start names approvers, roles, justification and the plan', () => {
    const m = startedMessage(summary, ['build', 'deploy']);
    expect(m).toContain('* alice (prod-deployer via sre) approved with Code-Review +2');
    expect(m).toContain('Justification: INC-9');
    expect(m).toContain('Steps: build -> deploy');
  });

  it('a finish lists every step with exit code, duration and attempts, and failed output', () => {
    const m = finishedMessage(summary, false, 65_000, [
      step('build', 'succeeded'),
      step('deploy', 'failed', { exitCode: 3, attempts: 2, outputTail: 'connecting\nerror: quota exceeded\n', error: 'exit code 3' }),
      step('verify', 'skipped', { exitCode: null, durationMs: null }),
    ]);
    expect(m).toContain('FAILED in 1m 05s');
    expect(m).toContain('* build: succeeded (exit 0, 1.2s)');
    expect(m).toContain('* deploy: failed (exit 3, 1.2s, 2 attempts)');
    expect(m).toContain('* verify: skipped');
    expect(m).toContain('Output of deploy (last lines):\n  exit code 3\n  connecting\n  error: quota exceeded');
  });

  it('stays under Gerrit\'s 16 KiB limit whatever the output, keeping every step line', () => {
    const huge = 'é'.repeat(50_000);
    const steps = Array.from({ length: 40 }, (_, i) => step(`step-${i}`, 'failed', { exitCode: 1, outputTail: huge }));
    const m = finishedMessage(summary, false, 1000, steps);
    expect(Buffer.byteLength(m)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    for (let i = 0; i < 40; i++) expect(m).toContain(`* step-${i}: failed`);
    expect(m).not.toContain('\uFFFD');
  });

  it('cuts even a pathological message to the limit with a note', () => {
    const m = holdMessage({ ...summary, reasons: Array.from({ length: 2000 }, (_, i) => ({ code: 'missing-role' as const, message: `reason number ${i} that is rather long` })) });
    expect(Buffer.byteLength(m)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(m.endsWith("[message cut to fit Gerrit's size limit; see rollgate for the rest]")).toBe(true);
  });
});
