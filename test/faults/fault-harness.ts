import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { RunningService, ServiceOverrides } from '../../src/service/service.js';
import { alice, bob, carol, GROUPS, mergedChange } from '../helpers/change-events.js';
import { startRestGerritDouble, type DoubleChange, type RestGerritDouble } from '../helpers/rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';
import { startServiceOnDoubles } from '../helpers/service-on-doubles.js';
import { waitFor } from '../helpers/wait-for.js';

/** rollgate on the SSH and REST doubles, with what the fault tests assert on. */
export interface FaultRig {
  readonly ssh: SshGerritDouble;
  readonly rest: RestGerritDouble;
  readonly service: RunningService;
  /** A merged change alice approved, registered in the REST double with its submit time now. */
  approvedMerge(number: number): DoubleChange;
  /** The step program's recorded calls. */
  calls(): Array<{ args: string[]; step: string }>;
  /** Waits until the change's rollout succeeded and its reports were posted, then checks each happened exactly once. */
  expectRolledOutOnce(change: DoubleChange): Promise<void>;
  stop(): Promise<void>;
}

/** Gerrit's timestamp format, UTC: `2026-11-23 08:01:02.000000000`. */
export function gerritTime(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace('T', ' ')}.000000000`;
}

export async function startFaultRig(options: { databaseUrl?: string | undefined; env?: Record<string, string>; overrides?: ServiceOverrides } = {}): Promise<FaultRig> {
  const ssh = await startSshGerritDouble();
  const rest = await startRestGerritDouble();
  rest.addAccount(alice, [GROUPS.sre]);
  rest.addAccount(bob, [GROUPS.developers]);
  rest.addAccount(carol, []);
  const { service, recordDir } = await startServiceOnDoubles({
    name: 'fault',
    database: { url: options.databaseUrl },
    rest,
    ssh,
    env: () => ({ ROLLGATE_PUBLIC_URL: 'http://rollgate.example', ...options.env }),
    overrides: {
      backfill: { marginMs: 2_000, retryMs: 200 },
      stream: { backoff: { initialMs: 50, maxMs: 200, factor: 2, resetAfterMs: 60_000 } },
      ...options.overrides,
    },
  });
  // the first sweep only sets the checkpoint; merges after it are the ones that must roll out
  await waitFor('the first back-fill checkpoint', async () => {
    await service.backfill?.idle();
    return (await service.database.db.selectFrom('checkpoints').selectAll().execute()).length > 0;
  });

  const calls = () =>
    existsSync(path.join(recordDir, 'calls.jsonl'))
      ? readFileSync(path.join(recordDir, 'calls.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { args: string[]; step: string })
      : [];

  return {
    ssh,
    rest,
    service,
    calls,
    approvedMerge(number) {
      const change = mergedChange(number, bob, {
        commitMessage: `Change ${number}\n\nRollout-Justification: fault test\n`,
        votes: { 'Code-Review': [{ account: alice, value: 2 }] },
        submitted: gerritTime(new Date()),
      });
      rest.setChange(change);
      return change;
    },
    async expectRolledOutOnce(change) {
      const reviews = () => rest.reviews.filter((r) => r.changeNumber === change.number);
      await waitFor(`change ${change.number}'s finish report`, () => reviews().some((r) => r.message.includes('SUCCEEDED')), 30_000);
      // let anything that would act twice have its chance: every queue drained
      await service.intake.flush();
      await service.backfill?.idle();
      await waitFor('an empty outbox', async () => (await service.database.db.selectFrom('outbox').select('id').where('status', '=', 'pending').execute()).length === 0);
      const rows = await service.database.db.selectFrom('rollouts').select(['id', 'status']).where('change_number', '=', change.number).execute();
      if (rows.length !== 1 || rows[0]!.status !== 'succeeded') throw new Error(`change ${change.number}: expected one succeeded rollout, got ${JSON.stringify(rows)}`);
      const deploys = calls().filter((c) => c.args[0] === 'deploy' && c.args[2] === String(change.number));
      const builds = calls().filter((c) => c.args[0] === 'build' && c.args[2] === change.revision);
      if (deploys.length !== 1 || builds.length !== 1) throw new Error(`change ${change.number}: expected one build and one deploy, got ${builds.length} and ${deploys.length}`);
      const started = reviews().filter((r) => r.message.includes('STARTED'));
      const finished = reviews().filter((r) => r.message.includes('SUCCEEDED'));
      if (started.length !== 1 || finished.length !== 1) throw new Error(`change ${change.number}: expected one start and one finish report, got ${started.length} and ${finished.length}`);
      const messages = reviews().map((r) => r.message);
      if (new Set(messages).size !== messages.length) throw new Error(`change ${change.number}: a report was posted twice`);
    },
    async stop() {
      await service.stop();
      await ssh.close();
      await rest.close();
    },
  };
}
