import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';

/**
 * The package as a user gets it: `npm pack` of this checkout, installed with
 * `npm install -g --prefix <tmp>`, its `rollgate` command run from there. Slow (a compile and an
 * install of the runtime dependencies), so it is done once for the whole file.
 */

const ROOT = path.resolve('.');
const UNIT = path.join(ROOT, 'packaging/systemd/rollgate.service');

/** The environment without what `npm test` sets for its own run (npm_config_*), which would steer the npm calls below. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !/^npm_/i.test(key)) env[key] = value;
  return { ...env, ...extra };
}

function run(command: string, args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? cleanEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return result;
}

function ok(result: SpawnSyncReturns<string>, what: string): string {
  if (result.status !== 0) throw new Error(`${what} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

let tmp: string;
let prefix: string;
let rollgate: string;
let installed: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'rollgate-package-'));
  prefix = path.join(tmp, 'prefix');
  // prepack compiles src/ to dist/ first
  const packed = JSON.parse(ok(run('npm', ['pack', '--json', '--pack-destination', tmp]), 'npm pack')) as { filename: string }[];
  const tarball = path.join(tmp, packed[0]!.filename);
  ok(run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', tarball], { cwd: tmp }), 'npm install -g');
  rollgate = path.join(prefix, 'bin/rollgate');
  installed = path.join(prefix, 'lib/node_modules/rollgate');
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed package installed with npm install -g --prefix', () => {
  it('installs a rollgate command that runs the compiled JavaScript, with only the runtime dependencies', () => {
    expect(existsSync(rollgate)).toBe(true);
    expect(realpathSync(rollgate)).toBe(realpathSync(path.join(installed, 'dist/src/cli/main.js')));
    expect(readFileSync(rollgate, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    // the build tools stay behind: what runs is dist/, not TypeScript through tsx
    for (const devOnly of ['tsx', 'typescript', 'vitest']) expect(existsSync(path.join(installed, 'node_modules', devOnly))).toBe(false);
    expect(existsSync(path.join(installed, 'src'))).toBe(false);
    expect(existsSync(path.join(installed, 'test'))).toBe(false);
    // the example policy and the systemd unit ship with it
    expect(existsSync(path.join(installed, 'policies/rollouts.yaml'))).toBe(true);
    expect(existsSync(path.join(installed, 'packaging/systemd/rollgate.service'))).toBe(true);
  });

  it('answers --help with its commands and --version with the package version, exit 0', () => {
    const help = run(rollgate, ['--help'], { cwd: tmp });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: rollgate /);
    for (const command of ['serve', 'migrate', 'policy', 'explain', 'replay', 'audit']) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    const version = run(rollgate, ['--version'], { cwd: tmp });
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('migrate finds the migrations in the package and applies them to an embedded database', () => {
    const dataDir = path.join(tmp, 'migrate-data');
    const result = run(rollgate, ['migrate'], { cwd: tmp, env: cleanEnv({ ROLLGATE_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }) });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('applied 0001_initial');
    expect(result.stdout).toMatch(/applied 00\d\d_\w+\n$/);
  });

  it('serves until /healthz answers with the shipped example policy, logs ISO times with LOG_FORMAT=iso, and stops on SIGTERM', async () => {
    const child = spawn(rollgate, ['serve'], {
      cwd: tmp,
      env: { PATH: process.env.PATH ?? '', PORT: '0', ROLLGATE_DATA_DIR: path.join(tmp, 'serve-data'), ROLLGATE_POLICY_DIR: path.join(installed, 'policies'), LOG_LEVEL: 'info', LOG_FORMAT: 'iso' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await waitFor(`the ready line (stderr so far: ${stderr})`, () => /rollgate is running at (http:\/\/\S+)/.exec(stderr)?.[1], 60_000);
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    const records = stdout.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; time: unknown; level: unknown });
    expect(records.map((r) => r.msg)).toContain('rollgate stopped');
    for (const record of records) {
      expect(record.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(record.level);
    }
  });
});

describe('packaging/systemd/rollgate.service', () => {
  it('passes systemd-analyze verify with ExecStart pointing at the installed rollgate', () => {
    const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (analyze.error) throw new Error(`systemd-analyze is needed to check the unit (Debian package systemd; .ci/run installs it): ${analyze.error.message}`);
    const unit = readFileSync(UNIT, 'utf8');
    expect(unit).toContain('ExecStart=/usr/local/bin/rollgate serve\n');
    const dir = mkdtempSync(path.join(tmp, 'unit-'));
    const file = path.join(dir, 'rollgate.service');
    writeFileSync(file, unit.replace('ExecStart=/usr/local/bin/rollgate', `ExecStart=${rollgate}`));
    const result = run('systemd-analyze', ['verify', file]);
    expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({ status: 0, output: '' });
  });

  it('hands every *_FILE secret of docs/configuration.md over as a credential at %d/<name>', () => {
    const unit = readFileSync(UNIT, 'utf8');
    const secrets = [...readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8').matchAll(/^\| `([A-Z_]+_FILE)` \|/gm)].map((m) => m[1]!);
    expect(secrets).toEqual(expect.arrayContaining(['GERRIT_HTTP_PASSWORD_FILE', 'GERRIT_SSH_KEY_FILE', 'ROLLGATE_WEBHOOK_SECRET_FILE']));
    for (const name of secrets) {
      // optional secrets are commented out (a missing credential file fails the start), but present
      const env = new RegExp(`^#?Environment=${name}=%d/([a-z-]+)$`, 'm').exec(unit);
      expect(env, `${name} in the unit`).not.toBeNull();
      const credential = env![1]!;
      expect(unit).toMatch(new RegExp(`^${env![0].startsWith('#') ? '#' : ''}LoadCredential=${credential}:/etc/rollgate/credentials/${credential}$`, 'm'));
    }
    for (const directive of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'StateDirectory=rollgate', 'Restart=on-failure', 'KillSignal=SIGTERM', 'ExecReload=/bin/kill -HUP $MAINPID', 'EnvironmentFile=/etc/rollgate/rollgate.env', 'DynamicUser=yes']) {
      expect(unit).toMatch(new RegExp(`^${directive.replace(/[$]/g, '\\$')}$`, 'm'));
    }
  });
});
