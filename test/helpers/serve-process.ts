import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestDatabase } from './backends.js';
import { doubleSettings } from './double-settings.js';
import type { RestGerritDouble } from './rest-gerrit-double.js';
import type { SshGerritDouble } from './ssh-gerrit-double.js';
import { waitFor } from './wait-for.js';
import { tempDir } from './temp-dir.js';

const FIXTURES = path.resolve('test/fixtures');

/** `rollgate serve` as its own process, started the way an operator starts it, with its JSON log kept. */
export class ServeProcess {
  readonly child: ChildProcess;
  stdout = '';
  readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (c: Buffer) => (this.stdout += c.toString()));
    this.child.stderr!.on('data', () => {});
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Whether this process has become the Gerrit stream leader. */
  get leads(): boolean {
    return this.stdout.includes('"msg":"this replica is now the Gerrit stream leader"');
  }

  /** Log records at warn level or above, for a failure message. */
  problems(): string {
    return this.stdout
      .split('\n')
      .filter((l) => /"level":(40|50|60)/.test(l))
      .slice(-30)
      .join('\n');
  }

  async ready(): Promise<void> {
    await waitFor('rollgate serving', () => this.stdout.includes('"msg":"rollgate is serving"'), 60_000);
  }
}

/** The fixture policy in `<dir>/policies`, with `workflow` as its `deploy-service` workflow; returns the folder. */
export function policiesWithWorkflow(dir: string, workflow: string): string {
  const policies = path.join(dir, 'policies');
  mkdirSync(path.join(policies, 'workflows'), { recursive: true });
  copyFileSync(path.join(FIXTURES, 'policies/roles.yaml'), path.join(policies, 'roles.yaml'));
  copyFileSync(path.join(FIXTURES, 'policies/rollouts.yaml'), path.join(policies, 'rollouts.yaml'));
  writeFileSync(path.join(policies, 'workflows/deploy-service.yaml'), workflow);
  return policies;
}

/** What a step of `test/fixtures/ops/step.mjs` wrote to `calls.jsonl`. */
export interface StepCall {
  readonly event: string;
  readonly name: string;
  readonly args: string[];
  readonly key: string;
  readonly pid: number;
  readonly t: number;
}

/** A place for `rollgate serve` processes: the fixture policy with `workflow`, the Gerrit doubles' settings, the database. */
export interface ServeSetup {
  readonly env: Record<string, string>;
  readonly recordDir: string;
  calls(): StepCall[];
}

export function serveSetup(options: { name: string; workflow: string; database: TestDatabase; ssh: SshGerritDouble; rest: RestGerritDouble; env?: Record<string, string> }): ServeSetup {
  const tmp = tempDir(`rollgate-${options.name}-`);
  const recordDir = path.join(tmp, 'record');
  mkdirSync(recordDir);
  const policies = policiesWithWorkflow(tmp, options.workflow);
  const env = {
    PATH: process.env.PATH ?? '',
    PORT: '0',
    LOG_LEVEL: 'info',
    ...(options.database.url ? { DATABASE_URL: options.database.url } : { ROLLGATE_DATA_DIR: path.join(tmp, 'data') }),
    ROLLGATE_POLICY_DIR: policies,
    ROLLGATE_WORK_DIR: FIXTURES,
    ROLLGATE_SETTLE_MS: '0',
    ROLLGATE_LEASE_MS: '1500',
    ROLLGATE_STEP_ENV: 'RECORD_DIR',
    RECORD_DIR: recordDir,
    ...doubleSettings(tmp, { ssh: options.ssh, rest: options.rest }),
    ...options.env,
  };
  const calls = () => {
    const file = path.join(recordDir, 'calls.jsonl');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as StepCall) : [];
  };
  return { env, recordDir, calls };
}
