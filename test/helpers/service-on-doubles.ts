import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startService, type RunningService, type ServiceOverrides } from '../../src/service.js';
import type { TestDatabase } from './backends.js';
import { doubleSettings } from './double-settings.js';
import type { RestGerritDouble } from './rest-gerrit-double.js';
import type { SshGerritDouble } from './ssh-gerrit-double.js';

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
  const tmp = mkdtempSync(path.join(tmpdir(), `rollgate-${o.name}-`));
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
