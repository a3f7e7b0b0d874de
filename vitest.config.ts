import { defineConfig } from 'vitest/config';

/**
 * The test tiers, cheapest first; each is a vitest project (`npm run test:<tier>`). A folder that
 * is all one tier is listed by glob, a mixed folder file by file. test/test-tiers.test.ts fails when
 * a test file is in no tier or in two, so none is left out of a tier's run silently.
 */
export const TEST_TIERS = {
  /** No database, no process, no server: pure functions and in-memory classes, seconds in all. */
  unit: [
    'test/architecture/**/*.test.ts',
    'test/test-tiers.test.ts',
    'test/backoff.test.ts',
    'test/config.test.ts',
    'test/policy/decide.test.ts',
    'test/policy/decide.property.test.ts',
    'test/policy/match.test.ts',
    'test/policy/start-check.test.ts',
    'test/actions/allowed-actions.test.ts',
    'test/execute/dag-plan.test.ts',
    'test/execute/stream-redactor.test.ts',
    'test/execute/token-slices.test.ts',
    'test/policy/workflow-config.test.ts',
    'test/gerrit/host-key.test.ts',
    'test/gerrit/line-splitter.test.ts',
    'test/http/html.test.ts',
    'test/http/approval-fact.test.ts',
    'test/http/step-graph.test.ts',
    'test/identity/identity-claims.test.ts',
    'test/identity/step-token-settings.test.ts',
    'test/intake/stall-watchdog.test.ts',
    'test/messages/format-message.test.ts',
    'test/security/who-may-act.test.ts',
  ],
  /** A database from test/helpers/backends.ts, but no service, Gerrit double or CLI: the stores and the engine's runner. */
  store: [
    'test/audit/**/*.test.ts',
    'test/decide/expire-holds.test.ts',
    'test/execute/merge-order.test.ts',
    'test/actions/operations.test.ts',
    'test/execute/orphan-process.test.ts',
    'test/execute/runner.test.ts',
    'test/metrics/engine-metrics.test.ts',
    'test/execute/step-io.test.ts',
    'test/execute/step-output.test.ts',
    'test/http/audit-api.test.ts',
    'test/intake/backfill.test.ts',
    'test/intake/stream-leader.test.ts',
    'test/intake/leader-lease.test.ts',
    'test/intake/intake-batches.test.ts',
    'test/rollouts/event-store.test.ts',
    'test/identity/step-token-keys.test.ts',
    'test/security/audit-rows-rewritten-in-database.test.ts',
    'test/security/step-escapes-timeout-and-cancel.test.ts',
    'test/security/step-escapes-worker-crash.test.ts',
  ],
  /** rollgate on the Gerrit doubles, its service and CLI as processes, the OIDC provider, faults, step processes on their own. */
  pipeline: [
    'test/cli/**/*.test.ts',
    'test/db/**/*.test.ts',
    'test/faults/**/*.test.ts',
    'test/helpers/**/*.test.ts',
    'test/metrics/alert-rules.test.ts',
    'test/metrics/rollout-metrics.test.ts',
    'test/pipeline/**/*.test.ts',
    'test/decide/comment-commands.test.ts',
    'test/replay/replay-events.test.ts',
    'test/replay/replay-events.property.test.ts',
    'test/execute/run-process.test.ts',
    'test/gerrit/change-key.test.ts',
    'test/gerrit/gerrit-rest-client.test.ts',
    'test/gerrit/stream-listener.test.ts',
    'test/http/web-pages.test.ts',
    'test/http/webhooks.test.ts',
    'test/identity/login.test.ts',
    'test/identity/login-secrets.test.ts',
    'test/identity/rollout-actions-api.test.ts',
    'test/identity/step-credentials.test.ts',
    'test/identity/step-credentials-rule-audience.test.ts',
    'test/intake/intake.test.ts',
    'test/report/reporter.test.ts',
    'test/security/audit-rewritten-caught-by-gerrit-heads.test.ts',
    'test/security/comment-command-in-code-or-quote.test.ts',
    'test/security/comment-floods-replies.test.ts',
    'test/security/comment-webhook-forged-or-replayed.test.ts',
    'test/security/db-second-process-on-embedded-database.test.ts',
    'test/security/group-named-like-a-uuid.test.ts',
    'test/security/http-path-variants-skip-login.test.ts',
    'test/security/login-forged-email-claim.test.ts',
    'test/security/login-open-redirect.test.ts',
    'test/security/piped-output-complete.test.ts',
    'test/security/replay-approve-same-as-serve.test.ts',
    'test/security/replay-comment-flood.test.ts',
    'test/security/replay-repeated-event.test.ts',
    'test/security/self-approval-same-by-comment-and-api.test.ts',
    'test/security/shutdown-during-start.test.ts',
    'test/security/step-escapes-without-cgroup.test.ts',
    'test/security/step-output-leaks-secrets.test.ts',
    'test/security/storable-hostile-change-data.test.ts',
    'test/security/webhook-chooses-revision.test.ts',
    'test/packaging/installed-package.test.ts',
    'test/packaging/log-format.test.ts',
    'test/packaging/build-if-changed.test.ts',
  ],
  /** A real Gerrit (Java 17) or Chromium. */
  real: [
    'test/real-gerrit/**/*.test.ts',
    'test/e2e-gerrit/**/*.test.ts',
    'test/http/web-browser.test.ts',
    'test/http/web-console-browser.test.ts',
    'test/http/live-output-browser.test.ts',
  ],
} as const satisfies Record<string, readonly string[]>;

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 300_000,
    // removes the folders each test file made with tempDir() once its tests are done
    setupFiles: ['test/helpers/remove-temp-dirs.ts'],
    // Real databases and a real Gerrit are shared machine resources: keep files in sequence. This
    // sets one worker for every project that extends this config.
    fileParallelism: false,
    projects: Object.entries(TEST_TIERS).map(([name, include], index) => ({
      extends: true,
      test: {
        name,
        include: [...include],
        // Without an order vitest runs projects side by side; with one the tiers run one after
        // another (one file at a time within each), cheapest first so a broken unit fails early.
        sequence: { groupOrder: index + 1 },
      },
    })),
  },
});
