import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startService, type RunningService, type ServiceOverrides } from '../../src/service/service.js';
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type Backend, type TestDatabase } from './backends.js';
import { doubleSettings } from './double-settings.js';
import { startRestGerritDouble, type DoubleAccount, type DoubleGroup, type RestGerritDouble } from './rest-gerrit-double.js';
import { startSshGerritDouble, type SshGerritDouble } from './ssh-gerrit-double.js';
import { tempDir } from './temp-dir.js';

const FIXTURES = path.resolve('test/fixtures');

export interface ServiceOnDoubles {
  readonly service: RunningService;
  /** A folder of the test's own, for files the settings point at. */
  readonly tmp: string;
  /** Where the fixture steps (`ops/record.mjs`, `ops/step.mjs`) write their calls. */
  readonly recordDir: string;
}

/**
 * `rollgate serve` in this process, configured as an operator would with environment settings:
 * the fixture policy, the Gerrit doubles given (and, with SSH, its stream session open), the test
 * database, no settle delay. `env` adds or overrides settings.
 */
export async function startServiceOnDoubles(o: {
  readonly name: string;
  readonly database: Pick<TestDatabase, 'url'>;
  readonly rest?: RestGerritDouble;
  readonly ssh?: SshGerritDouble;
  readonly env?: (dirs: { tmp: string; recordDir: string }) => Record<string, string>;
  readonly overrides?: ServiceOverrides;
}): Promise<ServiceOnDoubles> {
  const tmp = tempDir(`rollgate-${o.name}-`);
  const recordDir = path.join(tmp, 'record');
  mkdirSync(recordDir);
  const config = loadConfig({
    PATH: process.env.PATH,
    PORT: '0',
    ROLLGATE_DATA_DIR: 'memory://',
    ...(o.database.url ? { DATABASE_URL: o.database.url } : {}),
    ROLLGATE_POLICY_DIR: path.join(FIXTURES, 'policies'),
    ROLLGATE_WORK_DIR: FIXTURES,
    ROLLGATE_SETTLE_MS: '0',
    ROLLGATE_STEP_ENV: 'RECORD_DIR',
    RECORD_DIR: recordDir,
    ...doubleSettings(tmp, { ...(o.rest ? { rest: o.rest } : {}), ...(o.ssh ? { ssh: o.ssh } : {}) }),
    ...o.env?.({ tmp, recordDir }),
  });
  const service = await startService(config, silentLogger(), { idleMs: 50, ...o.overrides });
  await o.ssh?.waitForSession(1);
  return { service, tmp, recordDir };
}

/** What `serviceOnDoublesForSuite` gives a suite's tests once its `beforeAll` has run. */
export interface SuiteService {
  readonly ssh: SshGerritDouble;
  readonly rest: RestGerritDouble;
  readonly service: RunningService;
  /** Where the fixture steps write their calls (`ServiceOnDoubles.recordDir`). */
  readonly recordDir: string;
}

/**
 * For one `describe` block: the Gerrit doubles with `accounts`, a fresh database on `backend`,
 * and rollgate on them (`startServiceOnDoubles`, with `options.env`), started in `beforeAll` and
 * torn down in `afterAll`. Read the fields inside tests, not at collection time.
 */
export function serviceOnDoublesForSuite(
  backend: Backend,
  name: string,
  accounts: ReadonlyArray<readonly [DoubleAccount, DoubleGroup[]]>,
  options: { readonly env?: (dirs: { tmp: string; recordDir: string }) => Record<string, string> } = {},
): SuiteService {
  let started: (SuiteService & { readonly database: TestDatabase }) | undefined;
  beforeAll(async () => {
    const ssh = await startSshGerritDouble();
    const rest = await startRestGerritDouble();
    for (const [account, groups] of accounts) rest.addAccount(account, groups);
    const database = await createTestDatabase(backend);
    const { service, recordDir } = await startServiceOnDoubles({ name, database, rest, ssh, ...(options.env ? { env: options.env } : {}) });
    started = { ssh, rest, database, service, recordDir };
  });
  afterAll(async () => {
    await started?.service.stop();
    await started?.database.drop();
    await started?.ssh.close();
    await started?.rest.close();
  });
  const get = () => {
    if (!started) throw new Error(`${name}: the suite's service is not started (use it inside tests)`);
    return started;
  };
  return {
    get ssh() {
      return get().ssh;
    },
    get rest() {
      return get().rest;
    },
    get service() {
      return get().service;
    },
    get recordDir() {
      return get().recordDir;
    },
  };
}
