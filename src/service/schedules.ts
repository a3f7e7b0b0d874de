import cron from 'node-cron';
import type { Config } from '../config.js';
import { deleteExpiredRows } from '../db/retention.js';
import { expireHolds, type ExpireHoldsDeps } from '../decide/expire-holds.js';
import type { Identity } from '../identity/identity.js';
import type { IntakeStage } from '../intake/intake-stage.js';
import type { Logger } from '../log.js';
import type { PolicyInUse } from './policy-in-use.js';
import type { StepTokenKeys } from '../identity/step-token-keys.js';

/** A job the service runs on a schedule, apart from the stages' own loops. */
export interface ScheduledJob {
  readonly name: string;
  /** A cron expression (node-cron, minutes first). */
  readonly cron: string;
  /** What it does; a failure is logged with `failure` and the job runs again at its next time. */
  readonly run: () => Promise<unknown>;
  readonly failure: string;
}

/** Starts every job, never two runs of one job at once; `stop` ends them all. */
export function startSchedules(jobs: readonly ScheduledJob[], logger: Logger): { stop(): Promise<void> } {
  const tasks = jobs.map((job) =>
    cron.schedule(
      job.cron,
      () =>
        job.run().then(
          () => undefined,
          (err: unknown) => logger.error({ err, job: job.name }, job.failure),
        ),
      { name: job.name, noOverlap: true },
    ),
  );
  return {
    async stop() {
      for (const task of tasks) await task.destroy();
    },
  };
}

/**
 * Every schedule of `serve`, in one place: held rollouts nobody approved in time expire (with a
 * message on the change); rollouts held at their start for a closed window are released when it opens; a sweep over REST catches whatever every other path missed (on the replica that holds the stream's lease now, so a hung leader does not stop it: `IntakeStage.sweep`); expired
 * operator sessions are deleted (they are refused from the moment they expire); handled event
 * lines and sent messages older than the retention are deleted; with the policy in Gerrit, each
 * replica takes up the commit another one put in use, within 20 s; with step identity tokens on,
 * their signing keys rotate when due.
 */
export function serviceJobs(p: {
  readonly config: Pick<Config, 'backfillCron' | 'holdExpiryMs' | 'retentionMs'>;
  readonly logger: Logger;
  readonly expireHolds: ExpireHoldsDeps;
  readonly intake: Pick<IntakeStage, 'sweep' | 'backfill'>;
  readonly identity: Pick<Identity, 'sessions'> | undefined;
  readonly policies: Pick<PolicyInUse, 'repo' | 'sync'>;
  /** With step identity tokens on: the signing keys, rotated every minute when due (ROLLGATE_STEP_TOKEN_ROTATE) and deleted once no token they signed is live. */
  readonly stepTokenKeys?: Pick<StepTokenKeys, 'rotate'> | undefined;
  /** Decides again the rollouts held at their start for a window that has opened since (absent without Gerrit REST). */
  readonly releaseWindowHolds?: () => Promise<unknown>;
}): ScheduledJob[] {
  const { config, logger, identity } = p;
  const jobs: ScheduledJob[] = [{ name: 'expire-holds', cron: '* * * * *', run: () => expireHolds(p.expireHolds, config.holdExpiryMs), failure: 'expiring held rollouts failed' }];
  // every 5 s: a rollout held back at its start for a window goes once the window opens
  if (p.releaseWindowHolds) jobs.push({ name: 'release-window-holds', cron: '*/5 * * * * *', run: p.releaseWindowHolds, failure: 'releasing rollouts held for a window failed' });
  if (p.intake.backfill) jobs.push({ name: 'backfill-sweep', cron: config.backfillCron, run: async () => p.intake.sweep(), failure: 'the scheduled sweep failed' });
  // every replica uses the policy commit another one put in use
  if (p.policies.repo) jobs.push({ name: 'policy-sync', cron: '*/20 * * * * *', run: () => p.policies.sync(), failure: 'reading which policy is in use failed' });
  const keys = p.stepTokenKeys;
  if (keys) jobs.push({ name: 'rotate-step-token-keys', cron: '* * * * *', run: () => keys.rotate(), failure: 'rotating the step token signing keys failed' });
  if (identity) jobs.push({ name: 'purge-sessions', cron: '*/15 * * * *', run: () => identity.sessions.purgeExpired(), failure: 'deleting expired sessions failed' });
  const retentionMs = config.retentionMs;
  if (retentionMs !== undefined) {
    jobs.push({
      name: 'retention',
      cron: '17 3 * * *',
      run: async () => logger.info({ deleted: await deleteExpiredRows(p.expireHolds.db, retentionMs) }, 'deleted rows older than the retention'),
      failure: 'deleting rows older than the retention failed',
    });
  }
  return jobs;
}
