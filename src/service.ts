import { randomUUID } from 'node:crypto';
import cron from 'node-cron';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuditStore } from './audit/audit-store.js';
import type { Config } from './config.js';
import { configuredTarget, createDatabase, migrateToLatest, type DatabaseHandle } from './db/database.js';
import { checkReadiness } from './db/readiness.js';
import { loadPolicy } from './load-policy.js';
import { ApprovalStore } from './rollouts/approval-store.js';
import { DecisionLog } from './rollouts/decision-log.js';
import { expireHolds } from './decide/expire-holds.js';
import type { DecideDeps } from './decide/decide-deps.js';
import { EventProcessor, type EventRetry } from './decide/event-processor.js';
import type { Policy } from './policy/policy-config.js';
import { OperatorRequestStore } from './rollouts/operator-request-store.js';
import { RolloutLeaseStore } from './rollouts/rollout-lease-store.js';
import { RolloutReads } from './rollouts/rollout-reads.js';
import { RolloutStore } from './rollouts/rollout-store.js';
import { StepStore } from './rollouts/step-store.js';
import { bindOperations, type OperationDeps } from './actions/operations.js';
import { Runner } from './execute/runner.js';
import type { GerritClient } from './gerrit/gerrit-client.js';
import { SUBSCRIBED_EVENT_TYPES } from './gerrit/gerrit-event.js';
import { GerritRestClient } from './gerrit/gerrit-rest-client.js';
import { StreamListener, type StreamListenerOptions } from './gerrit/stream-listener.js';
import { createApp } from './http/app.js';
import { routesOf, type HttpRoute } from './http/route-table.js';
import { ConfigError } from './errors.js';
import { createIdentity } from './identity/identity.js';
import { OpenIdProvider } from './identity/identity-provider.js';
import { Backfill } from './intake/backfill.js';
import { CheckpointStore } from './intake/checkpoint-store.js';
import { EventStore } from './rollouts/event-store.js';
import { Intake } from './intake/intake.js';
import { StreamLeader } from './intake/stream-leader.js';
import { StallWatchdog } from './intake/stall-watchdog.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { deleteExpiredRows } from './db/retention.js';
import { PollLoop } from './poll-loop.js';
import { StartStages } from './start-abort.js';
import { ChangeMessages } from './messages/change-messages.js';
import { OutboxStore } from './messages/outbox-store.js';
import { Reporter } from './report/reporter.js';

export interface RunningService {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8787 */
  readonly url: string;
  readonly database: DatabaseHandle;
  readonly intake: Intake;
  readonly policy: Policy;
  readonly backfill: Backfill | undefined;
  /** What operator commands act through (approveGate, retryRollout, cancelRollout, rollbackRollout in src/execute/operations.ts). */
  readonly operations: OperationDeps;
  /** This instance's Prometheus registry, served at GET /metrics. */
  readonly metrics: Metrics;
  /** The hash-chained audit trail, served at GET /api/audit. */
  readonly audit: AuditStore;
  /** Every HTTP route served (method and registered path), for checks that must cover all of them. */
  readonly routes: readonly HttpRoute[];
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
}

/**
 * The composition root: opens the database, loads the policy, wires intake → decide → execute
 * → report, and serves HTTP. Each stage is a loop over its table, so a restart resumes from the
 * database and nothing is held only in memory.
 */
export async function startService(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<RunningService> {
  if (config.oidc && !config.gerritRest && !overrides.gerrit) {
    throw new ConfigError('OIDC login needs Gerrit REST (GERRIT_URL, GERRIT_HTTP_USER, GERRIT_HTTP_PASSWORD_FILE): rollgate maps each operator to their Gerrit account');
  }
  const policy = loadPolicy(config.policyDir);
  logger.info({ dir: config.policyDir, rules: policy.rollouts.length, workflows: Object.keys(policy.workflows).length }, 'policy loaded');

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
  // decisions, step starts and ends, and reports are appended where they are recorded
  const audit = new AuditStore(database.db);
  const decisions = new DecisionLog(database.db, audit);
  const idleMs = overrides.idleMs ?? 1000;

  const gerrit = overrides.gerrit ?? (config.gerritRest ? new GerritRestClient(config.gerritRest) : undefined);
  const loops: PollLoop[] = [];
  const loop = (name: string, tick: () => Promise<boolean>) => {
    const l = new PollLoop(name, tick, { idleMs, logger });
    loops.push(l);
    return l;
  };

  const reporter = gerrit ? loop('report', () => new Reporter({ outbox, gerrit, logger, metrics, audit }).sendNext()) : undefined;
  // rollouts interrupted by a crash or stop resume when their lease runs out (see Runner)
  // rollgate's OpenID provider: operator login, and tokens for steps with credentials.oidc
  const idp = config.oidc ? new OpenIdProvider(config.oidc) : undefined;
  const engine = new Runner({
    leases: new RolloutLeaseStore(database.db),
    steps: new StepStore(database.db),
    reads,
    messages,
    policy: () => policy,
    logger,
    workDir: config.workDir,
    workerId: `${process.pid}-${randomUUID().slice(0, 8)}`,
    baseEnv: config.stepEnv,
    secrets: config.secrets,
    leaseMs: config.leaseMs,
    metrics,
    audit,
    onReport: () => reporter?.wake(),
    ...(idp ? { credentials: idp } : {}),
  });
  // one loop per rollout driven at the same time; environments keep them apart
  const executeLoops = Array.from({ length: config.workers }, (_, i) => loop(`execute-${i + 1}`, () => engine.runNext()));
  const runner = {
    wake: () => {
      for (const l of executeLoops) l.wake();
      engine.wake();
    },
  };
  const operations: OperationDeps = { reads, requests: new OperatorRequestStore(database.db), policy: () => policy, wake: () => runner.wake() };
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
        policy: () => policy,
        logger,
        serviceUser: config.gerritRest?.user,
        onQueued: () => runner.wake(),
        onReport: () => reporter?.wake(),
        onGap: (reason) => backfill?.trigger(reason),
        operations: bindOperations(operations),
        metrics,
        audit,
      }
    : undefined;
  const decider = decideDeps ? loop('decide', () => new EventProcessor(decideDeps, overrides.eventRetry).processNext()) : undefined;
  if (!gerrit) {
    logger.warn('Gerrit REST is not configured (GERRIT_URL, GERRIT_HTTP_USER, GERRIT_HTTP_PASSWORD or _FILE): events are stored but not decided and nothing is reported');
  }

  const intake = new Intake({ store: events, logger, metrics, settleMs: config.settleMs, onStored: () => decider?.wake(), parallelWrites: database.singleConnection ? 1 : 4 });
  const backfill = gerrit ? new Backfill({ gerrit, intake, checkpoints: new CheckpointStore(database.db), logger, metrics, ...overrides.backfill }) : undefined;
  let listener: StreamListener | undefined;
  let makeListener: (() => StreamListener) | undefined;
  // a stream that stays connected but stops delivering while Gerrit shows newer merges is stalled
  const watchdog =
    gerrit && config.gerritSsh
      ? new StallWatchdog({
          stallMs: config.stallMs,
          gerrit,
          connected: () => listener?.connected ?? false,
          onStall: (reason) => {
            backfill?.trigger(reason);
            listener?.reconnect(reason);
          },
          logger,
        })
      : undefined;
  if (config.gerritSsh) {
    const ssh = config.gerritSsh;
    makeListener = () => new StreamListener({
      host: ssh.host,
      port: ssh.port,
      username: ssh.user,
      privateKey: ssh.privateKey,
      hostKeyFingerprints: ssh.hostKeyFingerprints,
      eventTypes: SUBSCRIBED_EVENT_TYPES,
      onLine: (line) => {
        watchdog?.lineArrived(line);
        intake.accept(line, 'stream');
      },
      onStatus: (status) => {
        logger.info({ stream: status }, 'gerrit stream status');
        metrics.streamConnected.set(status.state === 'connected' ? 1 : 0);
        // whatever merged while the stream was down is fetched over REST
        if (status.state === 'connected') {
          watchdog?.connected();
          backfill?.trigger('stream connected');
        }
      },
      logger,
      ...overrides.stream,
    });
  } else {
    logger.warn('Gerrit SSH is not configured (GERRIT_SSH_HOST, GERRIT_SSH_USER, GERRIT_SSH_KEY_FILE, GERRIT_SSH_HOST_KEY): no stream-events intake');
  }
  // several replicas on one PostgreSQL: only the leader holds the stream; a new leader's
  // stream connects, and every connect back-fills what merged while nobody listened
  const newListener = makeListener;
  const leader = newListener
    ? new StreamLeader({
        database,
        logger,
        pollMs: config.leaderPollMs,
        onGain: () => {
          metrics.streamLeader.set(1);
          listener = newListener();
          listener.start();
        },
        onLose: async () => {
          metrics.streamLeader.set(0);
          const stopping = listener;
          await stopping?.stop();
          if (listener === stopping) listener = undefined;
        },
      })
    : undefined;

  // scheduled: held rollouts nobody approved in time expire, with a message on the change
  const expiry = cron.schedule(
    '* * * * *',
    () =>
      expireHolds({ db: database.db, messages, decisions, logger, policyVersion: () => policy.version, onReport: () => reporter?.wake() }, config.holdExpiryMs).catch((err: unknown) =>
        logger.error({ err }, 'expiring held rollouts failed'),
      ),
    { name: 'expire-holds', noOverlap: true },
  );
  // scheduled: a sweep over REST catches whatever every other path missed (on the stream's leader
  // only, when there is a stream: the other replicas' sweeps would only find duplicates)
  const sweep = backfill
    ? cron.schedule(
        config.backfillCron,
        () => {
          if (!leader || leader.isLeader) backfill.trigger('scheduled sweep');
        },
        { name: 'backfill-sweep', noOverlap: true },
      )
    : undefined;

  // scheduled: handled event lines and sent messages older than the retention are deleted, daily
  const retention =
    config.retentionMs === undefined
      ? undefined
      : cron.schedule(
          '17 3 * * *',
          () =>
            deleteExpiredRows(database.db, config.retentionMs!).then(
              (deleted) => logger.info({ deleted }, 'deleted rows older than the retention'),
              (err: unknown) => logger.error({ err }, 'deleting rows older than the retention failed'),
            ),
          { name: 'retention', noOverlap: true },
        );

  const identity = config.oidc && idp && gerrit ? createIdentity({ config: config.oidc, idp, publicUrl: config.publicUrl, db: database.db, gerrit, policy: () => policy, logger }) : undefined;
  // scheduled: expired operator sessions are deleted (they are refused from the moment they expire)
  const purgeSessions = identity
    ? cron.schedule('*/15 * * * *', () => identity.sessions.purgeExpired().then(() => undefined, (err: unknown) => logger.error({ err }, 'deleting expired sessions failed')), { name: 'purge-sessions', noOverlap: true })
    : undefined;
  const app = createApp({
    rollouts: reads,
    logger,
    metrics,
    ready: () => checkReadiness(database.db),
    webhooks: { intake, secret: config.webhookSecret, maxBytes: config.webhookMaxBytes },
    web: { decisions, policy: () => policy, gerritUrl: config.gerritRest?.url },
    ...(identity ? { identity } : {}),
    audit: { store: audit, readers: () => policy.auditReaders },
    actions: decideDeps,
  });
  const server = await listen(app.callback(), config.port, config.host);
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  for (const l of loops) l.start();
  leader?.start();
  watchdog?.start();
  logger.info({ url }, 'rollgate is serving');

  return {
    url,
    database,
    intake,
    policy,
    backfill,
    operations,
    metrics,
    audit,
    routes: routesOf(app),
    streamConnected: () => listener?.connected ?? false,
    isLeader: () => leader?.isLeader ?? false,
    async stop() {
      await watchdog?.stop();
      await leader?.stop();
      await expiry.destroy();
      await sweep?.destroy();
      await purgeSessions?.destroy();
      await retention?.destroy();
      await backfill?.stop();
      await intake.flush();
      await engine.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await Promise.all(loops.map((l) => l.stop()));
      await database.close();
      logger.info('rollgate stopped');
    },
  };
}

async function listen(handler: RequestListener, port: number, host: string): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
