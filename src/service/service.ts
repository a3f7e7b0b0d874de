import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { bindOperations, type OperationDeps } from '../actions/operations.js';
import { AuditStore } from '../audit/audit-store.js';
import type { Config } from '../config.js';
import type { RolloutRow } from '../db/schema.js';
import { configuredTarget, createDatabase, migrateToLatest, type DatabaseHandle } from '../db/database.js';
import { checkReadiness } from '../db/readiness.js';
import type { DecideDeps } from '../decide/decide-deps.js';
import { decideStage } from '../decide/decide-stage.js';
import type { EventRetry } from '../decide/event-processor.js';
import { ConfigError } from '../errors.js';
import { ExecuteStage } from '../execute/execute-stage.js';
import type { GerritClient } from '../gerrit/gerrit-client.js';
import { OPEN_CHANGE_EVENT_TYPES, SUBSCRIBED_EVENT_TYPES } from '../gerrit/gerrit-event.js';
import { GerritRestClient } from '../gerrit/gerrit-rest-client.js';
import type { StreamListenerOptions } from '../gerrit/stream-listener.js';
import { createApp } from '../http/app.js';
import { routesOf, type HttpRoute } from '../http/route-table.js';
import { createIdentity } from '../identity/identity.js';
import { OpenIdProvider } from '../identity/identity-provider.js';
import { ruleAudienceCredentials } from '../identity/rule-audience-credentials.js';
import { STEP_TOKEN_CLAIMS, StepTokenIssuer } from '../identity/step-token-issuer.js';
import { STEP_TOKEN_ALGORITHM, StepTokenKeys } from '../identity/step-token-keys.js';
import type { Backfill } from '../intake/backfill.js';
import type { Intake } from '../intake/intake.js';
import { IntakeStage } from '../intake/intake-stage.js';
import { CheckpointStore } from '../rollouts/checkpoint-store.js';
import { loadPolicy } from '../load-policy.js';
import type { Logger } from '../log.js';
import { ChangeMessages } from '../messages/change-messages.js';
import { OutboxStore } from '../messages/outbox-store.js';
import { Metrics } from '../metrics.js';
import type { Policy } from '../policy/policy-config.js';
import { reportStage } from '../report/report-stage.js';
import { ApprovalStore } from '../rollouts/approval-store.js';
import { consoleReads } from '../rollouts/console-reads.js';
import { DecisionLog } from '../rollouts/decision-log.js';
import { EventStore } from '../rollouts/event-store.js';
import { OperatorRequestStore } from '../rollouts/operator-request-store.js';
import { RolloutLeaseStore } from '../rollouts/rollout-lease-store.js';
import { RolloutReads } from '../rollouts/rollout-reads.js';
import { RolloutStore } from '../rollouts/rollout-store.js';
import { StepOutputStore } from '../rollouts/step-output-store.js';
import { WorkSignal } from '../db/work-signal.js';
import { StepStore } from '../rollouts/step-store.js';
import { StartStages } from '../start-abort.js';
import { listen } from './listen.js';
import { PolicyInUse, type PolicyLoad } from './policy-in-use.js';
import { checkRolloutAtStart, type StartCheckDeps } from '../actions/check-at-start.js';
import { releaseWindowHolds } from '../decide/release-window-holds.js';
import { checkPolicyAt } from '../policy-from-git.js';
import { serviceJobs, startSchedules } from './schedules.js';

export interface RunningService {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8787 */
  readonly url: string;
  readonly database: DatabaseHandle;
  readonly intake: Intake;
  readonly policy: Policy;
  readonly backfill: Backfill | undefined;
  /** What operator commands act through (approveGate, retryRollout, cancelRollout, rollbackRollout in src/actions/operations.ts). */
  readonly operations: OperationDeps;
  /** This instance's Prometheus registry, served at GET /metrics. */
  readonly metrics: Metrics;
  /** The hash-chained audit trail, served at GET /api/audit. */
  readonly audit: AuditStore;
  /** Every HTTP route served (method and registered path), for checks that must cover all of them. */
  readonly routes: readonly HttpRoute[];
  /**
   * SIGHUP: reads the policy folder again (a policy from Gerrit: the commit in use) and uses it from
   * now on. A policy that does not load is refused with the problems, logged and counted, and the
   * one in use stays.
   */
  reloadPolicy(): Promise<PolicyLoad>;
  /** Whether the Gerrit stream-events session is up right now. */
  streamConnected(): boolean;
  /** Whether this replica is the one that holds the Gerrit stream (always, on PGlite, once SSH is configured). */
  isLeader(): boolean;
  stop(): Promise<void>;
}

export interface ServiceOverrides {
  /** Replaces the REST client built from config (tests that inject faults). */
  readonly gerrit?: GerritClient;
  /** How often idle loops look at the database for work they were not woken for. */
  readonly idleMs?: number;
  readonly backfill?: { readonly marginMs?: number; readonly retryMs?: number };
  /** How failed events are retried, for tests that outlast the retry budget quickly. */
  readonly eventRetry?: EventRetry;
  /** Reconnect timing of the stream, for tests that need a known gap. */
  readonly stream?: Pick<StreamListenerOptions, 'backoff' | 'random'>;
  /** A stop asked for while starting: the start is abandoned with `StartAborted`, what it opened closed. */
  readonly signal?: AbortSignal;
  /** The clock the check at a rollout's start and the release of window holds read (tests move it into a freeze). */
  readonly clock?: () => Date;
  /**
   * false: rollouts start as decided, without the check at the start. `rollgate replay` decides
   * from the recording (its group file and the events' times), which Gerrit's groups and the clock
   * now must not overrule; it checks a held rollout at the moment the recording releases it.
   */
  readonly checkAtStart?: boolean;
}

/**
 * The composition root of `serve`: opens the database, loads the policy, wires the stages
 * intake → decide → execute → report (each with `start`/`stop`), serves HTTP and starts the
 * schedules. Each stage is a loop over its table, so a restart resumes from the database and
 * nothing is held only in memory.
 */
export async function startService(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<RunningService> {
  if (config.oidc && !config.gerritRest && !overrides.gerrit) {
    throw new ConfigError('OIDC login needs Gerrit REST (GERRIT_URL, GERRIT_HTTP_USER, GERRIT_HTTP_PASSWORD_FILE): rollgate maps each operator to their Gerrit account');
  }
  // a policy folder is read and checked before anything opens; a policy in Gerrit once the
  // database says which commit is in use
  const folderPolicy = config.policyRepo ? undefined : loadPolicy(config.policyDir);
  const logLoaded = (policy: Policy) =>
    logger.info({ from: config.policyRepo ? `${config.policyRepo.project}:${config.policyRepo.branch}` : config.policyDir, version: policy.version, rules: policy.rollouts.length, workflows: Object.keys(policy.workflows).length }, 'policy loaded');
  if (folderPolicy) logLoaded(folderPolicy);

  // a stop signal while the database opens or migrates abandons the start (see StartStages)
  const stages = new StartStages(overrides.signal);
  const database = await stages.run(createDatabase(configuredTarget(config)), (opened) => opened.close());
  const migrated = await stages.run(migrateToLatest(database.db));
  if (migrated.error !== undefined) {
    await database.close();
    throw migrated.error;
  }
  logger.info({ backend: database.backend, applied: migrated.applied }, 'database ready');

  const events = new EventStore(database.db);
  const rollouts = new RolloutStore(database.db);
  const reads = new RolloutReads(database.db);
  const outbox = new OutboxStore(database.db);
  const messages = new ChangeMessages(outbox, config.publicUrl);
  const approvals = new ApprovalStore(database.db);
  const metrics = new Metrics(database.db);
  let policies: PolicyInUse;
  try {
    policies = await PolicyInUse.open({ config, checkpoints: new CheckpointStore(database.db), logger, metrics }, folderPolicy);
  } catch (err) {
    await database.close();
    throw err;
  }
  const policy = () => policies.current;
  if (!folderPolicy) logLoaded(policy());
  // a merged change to the policy project is put in use once allowed: when its rollout succeeds,
  // or at the merge when no rule covers the policy project
  const applyPolicy = (target: { project: string; branch: string; number: number; revision: string }) => {
    const repo = policies.repo;
    if (!repo || repo.project !== target.project || repo.branch !== target.branch) return;
    policies.apply(target, messages).then(
      () => report?.wake(),
      (err: unknown) => logger.error({ err, change: target.number }, 'putting the merged policy in use failed'),
    );
  };
  // decisions, step starts and ends, and reports are appended where they are recorded
  const audit = new AuditStore(database.db);
  const decisions = new DecisionLog(database.db, audit);
  const idleMs = overrides.idleMs ?? 1000;
  const gerrit = overrides.gerrit ?? (config.gerritRest ? new GerritRestClient(config.gerritRest) : undefined);
  if (!gerrit) {
    logger.warn('Gerrit REST is not configured (GERRIT_URL, GERRIT_HTTP_USER, GERRIT_HTTP_PASSWORD or _FILE): events are stored but not decided and nothing is reported');
  }

  // the four stages, each a loop over its table; they wake each other, and meet in the database
  const report = gerrit ? reportStage({ outbox, gerrit, logger, metrics, audit }, { idleMs }) : undefined;
  // rollgate's OpenID provider: operator login, and tokens for steps with credentials.oidc
  const idp = config.oidc ? new OpenIdProvider(config.oidc) : undefined;
  const clock = overrides.clock ?? (() => new Date());
  // rollgate as an OpenID issuer for its steps: keys in the database, tokens for steps with credentials.identity
  const stepTokenKeys = config.stepTokens ? new StepTokenKeys(database.db, { secret: config.stepTokens.keySecret, rotateMs: config.stepTokens.rotateMs, now: clock, logger }) : undefined;
  const stepTokens = config.stepTokens && stepTokenKeys ? new StepTokenIssuer({ keys: stepTokenKeys, issuer: config.stepTokens.issuer, policy, now: clock }) : undefined;
  // the decision is checked again when a worker starts the rollout, with the same Gerrit reads
  const startCheck: StartCheckDeps | undefined = gerrit && overrides.checkAtStart !== false ? { db: database.db, rollouts, decisions, messages, approvals, gerrit, policy, metrics, now: clock } : undefined;
  const execute = new ExecuteStage(
    {
      leases: new RolloutLeaseStore(database.db),
      steps: new StepStore(database.db),
      output: new StepOutputStore(database.db),
      reads,
      messages,
      policy,
      logger,
      workDir: config.workDir,
      workerId: `${process.pid}-${randomUUID().slice(0, 8)}`,
      baseEnv: config.stepEnv,
      secrets: config.secrets,
      leaseMs: config.leaseMs,
      metrics,
      audit,
      onReport: () => report?.wake(),
      ...(startCheck ? { startCheck: (r: RolloutRow, workerId: string) => checkRolloutAtStart(startCheck, r, workerId) } : {}),
      now: clock,
      onSucceeded: (r) => applyPolicy({ project: r.project, branch: r.branch, number: r.change_number, revision: r.revision }),
      ...(idp ? { credentials: ruleAudienceCredentials(idp, policy) } : {}),
      ...(stepTokens ? { identityTokens: stepTokens } : {}),
    },
    // another process's worker may be waiting for the environment this one freed
    { workers: config.workers, idleMs, onFreed: () => work.notify() },
  );
  // work queued here wakes this process's workers at once, and (on PostgreSQL) every other process's
  const work = new WorkSignal(database, logger, () => execute.wake());
  const workWaiting = () => {
    execute.wake();
    work.notify();
  };
  const operations: OperationDeps = { reads, requests: new OperatorRequestStore(database.db), policy, wake: workWaiting };
  // what comments and the HTTP API act through; one set, so both see the same stores and wake-ups
  const decideDeps: DecideDeps | undefined = gerrit
    ? {
        db: database.db,
        events,
        rollouts,
        reads,
        approvals,
        decisions,
        messages,
        gerrit,
        policy,
        logger,
        serviceUser: config.gerritRest?.user,
        readinessLabel: config.readinessLabel,
        policyChecks: config.policyRepo && config.gerritRest ? { repo: config.policyRepo, label: config.policyCheckLabel, check: (ref: string) => checkPolicyAt(config.gerritRest!, config.policyRepo!, ref) } : undefined,
        onQueued: workWaiting,
        onReport: () => report?.wake(),
        onGap: (reason) => intake.backfill?.trigger(reason),
        onIgnoredMerge: (change) => applyPolicy({ project: change.project, branch: change.branch, number: change.number, revision: change.currentRevision }),
        operations: bindOperations(operations),
        metrics,
        audit,
      }
    : undefined;
  const decide = decideDeps ? decideStage(decideDeps, { idleMs, retry: overrides.eventRetry }) : undefined;
  const intake = new IntakeStage({
    database,
    events,
    gerrit,
    ssh: config.gerritSsh,
    // readiness and policy checks act on each new patch set
    eventTypes: config.readinessLabel === undefined && config.policyRepo === undefined ? SUBSCRIBED_EVENT_TYPES : [...SUBSCRIBED_EVENT_TYPES, ...OPEN_CHANGE_EVENT_TYPES],
    settleMs: config.settleMs,
    stallMs: config.stallMs,
    leader: { pollMs: config.leaderPollMs, leaseMs: config.leaderLeaseMs, renewMs: config.leaderRenewMs },
    logger,
    metrics,
    onStored: () => decide?.wake(),
    backfill: overrides.backfill,
    stream: overrides.stream,
  });

  const identity = config.oidc && idp && gerrit ? createIdentity({ config: config.oidc, idp, publicUrl: config.publicUrl, db: database.db, gerrit, policy, logger }) : undefined;
  const app = createApp({
    rollouts: reads,
    logger,
    metrics,
    ready: () => checkReadiness(database.db),
    webhooks: { intake: intake.intake, secret: config.webhookSecret, maxBytes: config.webhookMaxBytes },
    web: { decisions, policy, gerritUrl: config.gerritRest?.url, reads: consoleReads(database.db), health: { streamConfigured: config.gerritSsh !== undefined, streamConnected: () => intake.streamConnected, isLeader: () => intake.isLeader } },
    ...(identity ? { identity } : {}),
    audit: { store: audit, readers: () => policy().auditReaders },
    actions: decideDeps,
    ...(stepTokens && stepTokenKeys ? { stepTokens: { issuer: stepTokens.issuer, algorithm: STEP_TOKEN_ALGORITHM, claims: STEP_TOKEN_CLAIMS, publicKeys: () => stepTokenKeys.publicKeys() } } : {}),
  });
  // a port in use ends the start: the database (and an embedded one's folder lock) is let go first
  const server = await listen(app.callback(), config.port, config.host).catch(async (err: unknown) => {
    await database.close();
    throw err;
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  report?.start();
  await work.start();
  execute.start();
  decide?.start();
  intake.start();
  const schedules = startSchedules(
    serviceJobs({
      config,
      logger,
      policies,
      expireHolds: { db: database.db, messages, decisions, logger, policyVersion: () => policy().version, onReport: () => report?.wake() },
      intake,
      identity,
      stepTokenKeys,
      ...(decideDeps ? { releaseWindowHolds: () => releaseWindowHolds(decideDeps, clock()) } : {}),
    }),
    logger,
  );
  logger.info({ url }, 'rollgate is serving');

  return {
    url,
    database,
    intake: intake.intake,
    get policy() {
      return policy();
    },
    reloadPolicy: () => policies.reload(),
    backfill: intake.backfill,
    operations,
    metrics,
    audit,
    routes: routesOf(app),
    streamConnected: () => intake.streamConnected,
    isLeader: () => intake.isLeader,
    async stop() {
      await schedules.stop();
      await intake.stop();
      await execute.stop();
      await work.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await Promise.all([decide?.stop(), report?.stop()]);
      await database.close();
      logger.info('rollgate stopped');
    },
  };
}
