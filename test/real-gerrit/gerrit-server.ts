/**
 * A throwaway, real Gerrit 3.10.2 for tests.
 *
 * There is no gerrit.war to be had here (Maven Central does not serve com.google.gerrit:gerrit-war
 * through this machine's mirror), so the daemon runs from a plain classpath: gerrit-plugin-api and
 * gerrit-acceptance-framework (two fat jars that hold the whole server) plus Bouncy Castle, all
 * fetched by ./fetch-gerrit.sh through `mvn dependency:get`. The entry point is Gerrit's own
 * `com.google.gerrit.launcher.GerritLauncher`, which runs `init` and `daemon` as the war would.
 *
 * `startRealGerrit()`:
 *   1. makes (once) a "golden" initialised site under ~/.cache/rollgate/gerrit-golden-3.10.2/ and
 *      copies it into a temporary folder for this run;
 *   2. points it at two free loopback ports and starts the daemon as a child process;
 *   3. provisions it the way an admin would: SSH key for admin, groups, accounts with HTTP
 *      passwords and ed25519 SSH keys, the files of gerrit-plugin-config/ pushed to All-Projects'
 *      refs/meta/config over HTTP, and a project with an initial empty commit.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateEd25519KeyPair } from '../helpers/ssh-gerrit-double.js';
import { freePort } from '../helpers/free-port.js';

export const GERRIT_VERSION = '3.10.2';

export interface GerritUser {
  username: string;
  httpPassword: string;
  accountId: number;
  email: string;
  privateKeyPath?: string;
}

export interface ChangeMessage {
  id?: string;
  message: string;
  tag?: string;
  date?: string;
  _revision_number?: number;
  author?: { _account_id?: number; name?: string; email?: string; username?: string };
}

export interface RealGerritTimings {
  /** Time spent creating the golden site; 0 when it was reused from the cache. */
  initMs: number;
  /** Spawn of the JVM until `GET /config/server/version` answers (last start). */
  bootMs: number;
  /** Accounts, groups, All-Projects config and the project. */
  provisionMs: number;
  /** Whole `startRealGerrit()` call. */
  totalMs: number;
}

export interface RealGerrit {
  httpUrl: string;
  sshHost: string;
  sshPort: number;
  /** OpenSSH "SHA256:<base64 without padding>" of every host key in SITE/etc/*.pub. */
  hostKeyFingerprints: string[];
  sitePath: string;
  project: string;
  branch: string;
  service: GerritUser & { privateKeyPath: string };
  /**
   * alice is in `sre`, bob in `developers`, carol and dave in no group: carol stays a user without
   * any role, dave is there for tests that give someone a role of their own (e.g. group `security`).
   */
  users: { admin: GerritUser; alice: GerritUser; bob: GerritUser; carol: GerritUser; dave: GerritUser };
  /** Groups made by the harness: name -> UUID. */
  groups: Record<string, string>;
  /** The daemon's console log (stdout and stderr of the JVM). */
  logPath: string;
  timings: RealGerritTimings;
  /** bob (or any user) uploads a change: clone, commit with the commit-msg hook, push to refs/for/<branch>. */
  createChange(
    user: GerritUser,
    opts: { message: string; files: Record<string, string>; /** default: the harness's branch */ branch?: string },
  ): Promise<{ number: number; changeId: string; revision: string }>;
  review(
    user: GerritUser,
    changeNumber: number,
    opts: { labels?: Record<string, number>; message?: string; tag?: string },
  ): Promise<void>;
  /**
   * `user` pushes a new patch set of an open change: fetch its current patch set, write `files`,
   * amend the commit (same message, so same Change-Id, and same author), push to
   * refs/for/<branch of the change>.
   */
  uploadPatchSet(
    user: GerritUser,
    changeNumber: number,
    opts: { files: Record<string, string> },
  ): Promise<{ patchSet: number; revision: string }>;
  submit(user: GerritUser, changeNumber: number): Promise<void>;
  getChangeMessages(changeNumber: number): Promise<ChangeMessage[]>;
  /**
   * A REST call as `user` (HTTP Basic, under /a/), or anonymous with `user` null. Returns the JSON
   * body with Gerrit's `)]}'` prefix removed (undefined for an empty body); throws on a non-2xx reply.
   */
  rest(user: GerritUser | null, method: string, apiPath: string, body?: unknown): Promise<unknown>;
  /** Stop cleanly, then start again on the same ports and site. */
  restart(): Promise<void>;
  /** SIGTERM, wait, remove the temporary folder. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartRealGerritOptions {
  /** Default `payments/api`. */
  project?: string;
  /** Default `main`. */
  branch?: string;
  /** Also apply gerrit-plugin-config/rollout-label.config to All-Projects. Default true. */
  rolloutLabel?: boolean;
  /** Also apply gerrit-plugin-config/readiness-label.config (the Rollout-Ready label) to All-Projects. Default false. */
  readinessLabel?: boolean;
  /** JVM -Xmx. Default `768m`. */
  heap?: string;
  /** How long to wait for the daemon to answer. Default 180 s. */
  readyTimeoutMs?: number;
  /** Keep the temporary folder after stop() (also: ROLLGATE_KEEP_GERRIT_SITE=1). */
  keepSite?: boolean;
  /** Where progress goes. Default: console.log with a `[real-gerrit]` prefix. */
  log?: (message: string) => void;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..');
const FETCH_SCRIPT = path.join(HERE, 'fetch-gerrit.sh');
const PLUGIN_CONFIG_DIR = path.join(REPO_ROOT, 'gerrit-plugin-config');
const CACHE_DIR = process.env.ROLLGATE_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'rollgate');
const GOLDEN_DIR = path.join(CACHE_DIR, `gerrit-golden-${GERRIT_VERSION}`);
/** Bump when the way the golden site is made changes, so that old caches are rebuilt. */
const GOLDEN_RECIPE = `rollgate golden site v1; gerrit ${GERRIT_VERSION}; init --batch --dev --no-auto-start --skip-plugins`;
const GOLDEN_MARKER = '.rollgate-golden';
const LOOPBACK = '127.0.0.1';
const ADMIN_PASSWORD = 'secret';

/**
 * The options the docker images and gerrit.sh give every Gerrit JVM on Java 17, plus
 * -XX:TieredStopAtLevel=1 (C1 only), which cuts boot time by about a third on 2 cores and costs
 * nothing noticeable at test workloads.
 */
function jvmArgs(heap: string): string[] {
  return [
    `-Xmx${heap}`,
    '-XX:TieredStopAtLevel=1',
    '--add-opens',
    'java.base/java.net=ALL-UNNAMED',
    '--add-opens',
    'java.base/java.lang.invoke=ALL-UNNAMED',
    '-Djava.security.egd=file:/dev/./urandom',
    '-Dflogger.backend_factory=com.google.common.flogger.backend.log4j.Log4jBackendFactory#getInstance',
    '-Dflogger.logging_context=com.google.gerrit.server.logging.LoggingContext#getInstance',
  ];
}

// ---------------------------------------------------------------------------------------------
// small process helpers

interface RunResult {
  stdout: string;
  stderr: string;
}

function run(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 32 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (error) {
          const shown = [file, ...args].join(' ');
          reject(
            new Error(
              `command failed (${error.code ?? error.signal ?? 'error'}): ${shown}\n${stderr}${stdout}`.trimEnd(),
              { cause: error },
            ),
          );
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

function javaBinary(): string {
  const home = process.env.JAVA_HOME;
  return home ? path.join(home, 'bin', 'java') : 'java';
}

async function checkJava(java: string): Promise<string> {
  let out: RunResult;
  try {
    out = await run(java, ['-version'], { timeoutMs: 30_000 });
  } catch (error) {
    const where = process.env.JAVA_HOME ? `JAVA_HOME is ${process.env.JAVA_HOME}` : 'no java on PATH and JAVA_HOME is not set';
    throw new Error(
      `real Gerrit needs Java 17: \`${java} -version\` failed (${where}); install openjdk-17-jre-headless or point JAVA_HOME at a Java 17`,
      { cause: error },
    );
  }
  const text = `${out.stderr}${out.stdout}`;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(text);
  const major = match?.[1] === '1' ? Number(match[2]) : Number(match?.[1]);
  if (!Number.isFinite(major) || major < 17) {
    throw new Error(`real Gerrit ${GERRIT_VERSION} needs Java 17 or newer, found: ${text.split('\n')[0] ?? text}`);
  }
  return text.trim();
}

async function fetchClasspath(): Promise<string> {
  const out = await run('bash', [FETCH_SCRIPT], { timeoutMs: 15 * 60_000 });
  const classpath = out.stdout.trim().split('\n').pop() ?? '';
  if (!classpath.includes('gerrit-plugin-api')) {
    throw new Error(`fetch-gerrit.sh printed no usable classpath:\n${out.stdout}\n${out.stderr}`);
  }
  return classpath;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tail(file: string, lines = 60): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** OpenSSH-style fingerprint ("SHA256:" + unpadded base64 of the SHA-256 of the key blob). */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

function hostKeyFingerprints(sitePath: string): string[] {
  const etc = path.join(sitePath, 'etc');
  return fs
    .readdirSync(etc)
    .filter((name) => name.endsWith('.pub'))
    .sort()
    .map((name) => {
      const [, blob] = fs.readFileSync(path.join(etc, name), 'utf8').trim().split(/\s+/);
      if (!blob) throw new Error(`unreadable host key ${name}`);
      return sshFingerprint(Buffer.from(blob, 'base64'));
    });
}

// ---------------------------------------------------------------------------------------------
// golden site

async function ensureGoldenSite(java: string, classpath: string, log: (m: string) => void): Promise<number> {
  const marker = path.join(GOLDEN_DIR, GOLDEN_MARKER);
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === GOLDEN_RECIPE) return 0;

  const started = Date.now();
  await fsp.mkdir(CACHE_DIR, { recursive: true });
  const tmp = `${GOLDEN_DIR}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  log(`initialising a golden Gerrit ${GERRIT_VERSION} site in ${GOLDEN_DIR} ...`);
  try {
    await run(
      java,
      [
        ...jvmArgs('512m'),
        '-cp',
        classpath,
        'com.google.gerrit.launcher.GerritLauncher',
        'init',
        '-d',
        tmp,
        '--batch',
        '--dev',
        '--no-auto-start',
        '--skip-plugins',
      ],
      { timeoutMs: 5 * 60_000 },
    );
    // init copies the jar it was launched from (gerrit-plugin-api, 60 MB) to bin/gerrit.war; the
    // daemon here runs from the classpath, so drop it, and the logs of the init run.
    await fsp.rm(path.join(tmp, 'bin', 'gerrit.war'), { force: true });
    await fsp.rm(path.join(tmp, 'logs'), { recursive: true, force: true });
    await fsp.mkdir(path.join(tmp, 'logs'));
    await fsp.writeFile(path.join(tmp, GOLDEN_MARKER), GOLDEN_RECIPE);
    await fsp.rm(GOLDEN_DIR, { recursive: true, force: true });
    try {
      await fsp.rename(tmp, GOLDEN_DIR);
    } catch (error) {
      // Another run made it first: use theirs.
      if (!fs.existsSync(path.join(GOLDEN_DIR, GOLDEN_MARKER))) throw error;
    }
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  const ms = Date.now() - started;
  log(`golden site initialised in ${ms} ms`);
  return ms;
}

// ---------------------------------------------------------------------------------------------
// git-config snippets (gerrit-plugin-config/*.config)

interface ConfigEntry {
  key: string;
  value: string;
}

/** Parses the simple git-config files of gerrit-plugin-config/ (sections, `name = value`, full-line comments). */
export function parseConfigSnippet(text: string, file: string): ConfigEntry[] {
  const entries: ConfigEntry[] = [];
  let section: string | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\]$/.exec(line);
    if (header) {
      const name = header[1] ?? '';
      section = header[2] === undefined ? name : `${name}.${header[2].replace(/\\(.)/g, '$1')}`;
      return;
    }
    const entry = /^([A-Za-z][A-Za-z0-9-]*)\s*=\s*(.*)$/.exec(line);
    if (!entry || section === undefined) {
      throw new Error(`${file}:${index + 1}: cannot parse "${raw}"`);
    }
    let value = entry[2] ?? '';
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    entries.push({ key: `${section}.${entry[1] ?? ''}`, value });
  });
  return entries;
}

async function mergeConfigSnippet(target: string, snippetFile: string): Promise<void> {
  const entries = parseConfigSnippet(await fsp.readFile(snippetFile, 'utf8'), snippetFile);
  for (const { key, value } of entries) {
    let existing: string[] = [];
    try {
      existing = (await run('git', ['config', '-f', target, '--get-all', key])).stdout.split('\n');
    } catch {
      existing = []; // exit 1: no such key yet
    }
    if (!existing.includes(value)) await run('git', ['config', '-f', target, '--add', key, value]);
  }
}

// ---------------------------------------------------------------------------------------------
// the server

interface RestUser {
  username: string;
  httpPassword: string;
}

function basicAuth(user: RestUser): string {
  return `Basic ${Buffer.from(`${user.username}:${user.httpPassword}`).toString('base64')}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field<T>(value: unknown, name: string, type: 'string' | 'number', what: string): T {
  if (!isRecord(value) || typeof value[name] !== type) {
    throw new Error(`${what}: expected a ${type} field "${name}" in ${JSON.stringify(value)}`);
  }
  return value[name] as T;
}

class GerritProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly onExit = (): void => {
    // Never leave a JVM behind when the test process goes away without calling stop().
    this.child?.kill('SIGKILL');
  };

  /** Where this run's JVM writes the list of classes it loaded, when there is no CDS archive yet. */
  private classList: string | undefined;

  constructor(
    private readonly java: string,
    private readonly classpath: string,
    private readonly sitePath: string,
    private readonly httpUrl: string,
    private readonly heap: string,
    private readonly readyTimeoutMs: number,
    readonly logPath: string,
    /** Static AppCDS archive for this JDK and classpath; undefined to run without. */
    private readonly cdsArchive: string | undefined,
    private readonly log: (message: string) => void,
  ) {}

  private stopping = false;

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Class data sharing (off with ROLLGATE_GERRIT_CDS=0): the first run records the classes it
   * loads (-XX:DumpLoadedClassList); at its final stop() a static archive is dumped from that
   * list (java -Xshare:dump, ~20 s, once per JDK and classpath, kept in ~/.cache/rollgate);
   * later runs map it and boot in about half the time.
   *
   * Static, and without the list's @lambda-proxy / @lambda-form-invoker entries, on purpose: a
   * dynamic archive (-XX:ArchiveClassesAtExit) crashed OpenJDK 17.0.15 with SIGSEGV in
   * SystemDictionary::load_shared_lambda_proxy_class as soon as an SSH command ended.
   * A stale or mismatched archive only makes the JVM warn and load classes the usual way.
   */
  private cdsArgs(): string[] {
    if (this.cdsArchive === undefined) return [];
    if (fs.existsSync(this.cdsArchive)) return [`-XX:SharedArchiveFile=${this.cdsArchive}`, '-Xlog:cds=off'];
    if (this.classList !== undefined) return []; // restarted: the first start's list is dumped at the final stop
    this.classList = `${this.cdsArchive}.classlist-${process.pid}-${randomBytes(4).toString('hex')}`;
    return [`-XX:DumpLoadedClassList=${this.classList}`];
  }

  private async dumpCdsArchive(): Promise<void> {
    const list = this.classList;
    const archive = this.cdsArchive;
    if (list === undefined || archive === undefined) return;
    this.classList = undefined;
    const tmp = `${archive}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const classes = (await fsp.readFile(list, 'utf8')).split('\n').filter((line) => !line.startsWith('@'));
      await fsp.writeFile(list, `${classes.join('\n')}\n`);
      await run(
        this.java,
        ['-Xshare:dump', `-XX:SharedClassListFile=${list}`, `-XX:SharedArchiveFile=${tmp}`, '-Xlog:cds=off', '-cp', this.classpath],
        { timeoutMs: 5 * 60_000 },
      );
      await fsp.rename(tmp, archive);
    } catch {
      // no archive this time: the next run records a list again
    } finally {
      await fsp.rm(list, { force: true });
      await fsp.rm(tmp, { force: true });
    }
  }

  async start(): Promise<number> {
    const started = Date.now();
    const logFd = fs.openSync(this.logPath, 'a');
    const runId = `rollgate-${Date.now()}`;
    let child: ChildProcess;
    try {
      child = spawn(
        this.java,
        [
          ...jvmArgs(this.heap),
          ...this.cdsArgs(),
          `-XX:ErrorFile=${path.join(this.sitePath, 'logs', 'hs_err_pid%p.log')}`,
          '-cp',
          this.classpath,
          'com.google.gerrit.launcher.GerritLauncher',
          'daemon',
          '-d',
          this.sitePath,
          '--console-log',
          '--headless',
          `--run-id=${runId}`,
        ],
        { stdio: ['ignore', logFd, logFd], env: process.env, cwd: this.sitePath },
      );
    } finally {
      fs.closeSync(logFd);
    }
    this.child = child;
    let exitCode: number | string | undefined;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exitCode = code ?? signal ?? 'unknown';
        if (!this.stopping) {
          this.log(`Gerrit daemon exited unexpectedly (${exitCode}); log ${this.logPath}:\n${tail(this.logPath, 40)}`);
        }
        resolve();
      });
      child.once('error', (error) => {
        exitCode = error.message;
        resolve();
      });
    });
    process.once('exit', this.onExit);

    const deadline = started + this.readyTimeoutMs;
    for (;;) {
      if (exitCode !== undefined) {
        throw new Error(`Gerrit daemon exited (${exitCode}) before it was ready; log ${this.logPath}:\n${tail(this.logPath)}`);
      }
      try {
        const response = await fetch(`${this.httpUrl}/config/server/version`, { signal: AbortSignal.timeout(5_000) });
        if (response.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.stop(false);
        throw new Error(`Gerrit was not ready after ${this.readyTimeoutMs} ms; log ${this.logPath}:\n${tail(this.logPath)}`);
      }
      await sleep(200);
    }
    return Date.now() - started;
  }

  /** SIGTERM and wait (SIGKILL after 60 s). `final` also dumps the CDS archive, if one was recorded. */
  async stop(final: boolean): Promise<void> {
    const child = this.child;
    if (!child) {
      if (final) await this.dumpCdsArchive();
      return;
    }
    this.stopping = true;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([
        this.exited.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), 60_000);
        }),
      ]);
      clearTimeout(timer);
      if (!stopped) {
        child.kill('SIGKILL');
        await this.exited;
      }
    }
    process.removeListener('exit', this.onExit);
    this.stopping = false;
    if (final) await this.dumpCdsArchive();
  }
}

export async function startRealGerrit(options: StartRealGerritOptions = {}): Promise<RealGerrit> {
  const startedAt = Date.now();
  const log = options.log ?? ((message: string) => console.log(`[real-gerrit] ${message}`));
  const project = options.project ?? 'payments/api';
  const branch = options.branch ?? 'main';
  const heap = options.heap ?? '768m';
  const keepSite = options.keepSite ?? process.env.ROLLGATE_KEEP_GERRIT_SITE === '1';

  const java = javaBinary();
  const javaVersion = await checkJava(java);
  const classpath = await fetchClasspath();
  const initMs = await ensureGoldenSite(java, classpath, log);

  const workDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'rollgate-gerrit-'));
  const sitePath = path.join(workDir, 'site');
  await fsp.cp(GOLDEN_DIR, sitePath, { recursive: true });
  const keysDir = path.join(workDir, 'keys');
  await fsp.mkdir(keysDir, { mode: 0o700 });

  const httpPort = await freePort();
  let sshPort = await freePort();
  while (sshPort === httpPort) sshPort = await freePort();
  const httpUrl = `http://${LOOPBACK}:${httpPort}`;
  const gerritConfig = path.join(sitePath, 'etc', 'gerrit.config');
  const settings: Array<[string, string]> = [
    ['gerrit.canonicalWebUrl', `${httpUrl}/`],
    ['httpd.listenUrl', `${httpUrl}/`],
    ['sshd.listenAddress', `${LOOPBACK}:${sshPort}`],
    ['auth.type', 'DEVELOPMENT_BECOME_ANY_ACCOUNT'],
    ['sendemail.enable', 'false'],
    ['index.type', 'lucene'],
  ];
  for (const [key, value] of settings) await run('git', ['config', '-f', gerritConfig, key, value]);

  const daemon = new GerritProcess(
    java,
    classpath,
    sitePath,
    httpUrl,
    heap,
    options.readyTimeoutMs ?? 180_000,
    path.join(sitePath, 'logs', 'console.log'),
    process.env.ROLLGATE_GERRIT_CDS === '0'
      ? undefined
      : path.join(
          CACHE_DIR,
          `gerrit-${GERRIT_VERSION}-${createHash('sha256').update(`${javaVersion}\n${classpath}`).digest('hex').slice(0, 16)}.jsa`,
        ),
    log,
  );
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await daemon.stop(true);
    if (keepSite) log(`kept ${workDir}`);
    else await fsp.rm(workDir, { recursive: true, force: true });
  };

  try {
    log(`${javaVersion.split('\n')[0] ?? ''}; site ${sitePath}; http ${httpUrl} ssh ${LOOPBACK}:${sshPort}`);
    let bootMs = await daemon.start();
    log(`Gerrit ${GERRIT_VERSION} ready in ${bootMs} ms (spawn to first REST answer)`);

    // ---- REST and git plumbing -------------------------------------------------------------
    const rest = async (user: RestUser | null, method: string, apiPath: string, body?: unknown): Promise<unknown> => {
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (user) headers.Authorization = basicAuth(user);
      let payload: string | undefined;
      if (typeof body === 'string') {
        headers['Content-Type'] = 'text/plain; charset=UTF-8';
        payload = body;
      } else if (body !== undefined) {
        headers['Content-Type'] = 'application/json; charset=UTF-8';
        payload = JSON.stringify(body);
      }
      const url = `${httpUrl}${user ? '/a' : ''}${apiPath}`;
      let response: Response;
      try {
        response = await fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(60_000) });
      } catch (error) {
        const state = daemon.running ? 'the daemon is running' : `the daemon is NOT running, see ${daemon.logPath}`;
        throw new Error(`${method} ${apiPath}: ${String(error)} (${state})`, { cause: error });
      }
      const text = await response.text();
      if (!response.ok) {
        throw new Error(`${method} ${apiPath} as ${user?.username ?? 'anonymous'} -> ${response.status}: ${text.trim()}`);
      }
      const json = text.replace(/^\)\]\}'\n?/, '').trim();
      return json === '' ? undefined : (JSON.parse(json) as unknown);
    };

    /**
     * git as `user`: HTTP Basic in an http.extraHeader passed through the environment (not argv),
     * no system or global git config (no prompts, signing or hooks from the machine), and with
     * `as` the author and committer identity.
     */
    const git = (
      user: RestUser | null,
      args: string[],
      opts: { cwd?: string; as?: { name: string; email: string } } = {},
    ): Promise<RunResult> =>
      run('git', args, {
        cwd: opts.cwd,
        env: {
          ...process.env,
          GIT_TERMINAL_PROMPT: '0',
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_CONFIG_GLOBAL: '/dev/null',
          ...(user
            ? { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: ${basicAuth(user)}` }
            : {}),
          ...(opts.as
            ? {
                GIT_AUTHOR_NAME: opts.as.name,
                GIT_AUTHOR_EMAIL: opts.as.email,
                GIT_COMMITTER_NAME: opts.as.name,
                GIT_COMMITTER_EMAIL: opts.as.email,
              }
            : {}),
        },
      });
    const gitUrl = (repo: string): string => `${httpUrl}/a/${repo}`;

    const newKey = async (name: string): Promise<{ privateKeyPath: string; publicKey: string }> => {
      const pair = generateEd25519KeyPair(`${name}@rollgate-test`);
      const privateKeyPath = path.join(keysDir, `${name}_ed25519`);
      await fsp.writeFile(privateKeyPath, pair.private, { mode: 0o600 });
      await fsp.writeFile(`${privateKeyPath}.pub`, `${pair.public}\n`);
      return { privateKeyPath, publicKey: pair.public };
    };

    // ---- provisioning ----------------------------------------------------------------------
    const provisionStarted = Date.now();
    const adminSelf = await rest({ username: 'admin', httpPassword: ADMIN_PASSWORD }, 'GET', '/accounts/self');
    const adminKey = await newKey('admin');
    const admin: GerritUser = {
      username: 'admin',
      httpPassword: ADMIN_PASSWORD,
      accountId: field<number>(adminSelf, '_account_id', 'number', 'admin account'),
      email: field<string>(adminSelf, 'email', 'string', 'admin account'),
      privateKeyPath: adminKey.privateKeyPath,
    };
    await rest(admin, 'POST', '/accounts/self/sshkeys', `${adminKey.publicKey}\n`);

    const groups: Record<string, string> = {};
    const createGroup = async (name: string, description: string, visibleToAll: boolean): Promise<void> => {
      const info = await rest(admin, 'PUT', `/groups/${encodeURIComponent(name)}`, {
        description,
        visible_to_all: visibleToAll,
      });
      groups[name] = field<string>(info, 'id', 'string', `group ${name}`);
    };
    await createGroup('rollgate-service', 'Service accounts of rollgate (stream events, read changes)', false);
    // Policy groups are visible to all registered users so that rollgate (not a member, not an
    // owner) sees them in GET /accounts/{id}/groups; Gerrit silently leaves out invisible groups.
    await createGroup('sre', 'Site reliability engineers (may approve rollouts)', true);
    await createGroup('developers', 'Developers', true);

    const createUser = async (
      username: string,
      name: string,
      memberOf: string[],
    ): Promise<GerritUser & { privateKeyPath: string }> => {
      const email = `${username}@example.com`;
      const key = await newKey(username);
      const info = await rest(admin, 'PUT', `/accounts/${encodeURIComponent(username)}`, {
        name,
        email,
        ssh_key: key.publicKey,
        groups: memberOf,
      });
      const accountId = field<number>(info, '_account_id', 'number', `account ${username}`);
      const httpPassword = randomBytes(18).toString('base64url');
      await rest(admin, 'PUT', `/accounts/${accountId}/password.http`, { http_password: httpPassword });
      return { username, httpPassword, accountId, email, privateKeyPath: key.privateKeyPath };
    };
    const service = await createUser('rollgate', 'Rollgate Service', ['rollgate-service']);
    const alice = await createUser('alice', 'Alice', ['sre']);
    const bob = await createUser('bob', 'Bob', ['developers']);
    const carol = await createUser('carol', 'Carol', []);
    const dave = await createUser('dave', 'Dave', []);
    const names: Record<string, string> = {
      admin: 'Administrator',
      rollgate: 'Rollgate Service',
      alice: 'Alice',
      bob: 'Bob',
      carol: 'Carol',
      dave: 'Dave',
    };

    // All-Projects refs/meta/config: merge gerrit-plugin-config/ as an admin would, push over HTTP.
    const metaDir = path.join(workDir, 'all-projects-meta');
    await fsp.mkdir(metaDir);
    await git(null, ['init', '-q'], { cwd: metaDir });
    await git(admin, ['fetch', '-q', gitUrl('All-Projects'), 'refs/meta/config'], { cwd: metaDir });
    await git(null, ['checkout', '-q', 'FETCH_HEAD'], { cwd: metaDir });
    const projectConfig = path.join(metaDir, 'project.config');
    const snippets = [
      'project.config',
      ...(options.rolloutLabel === false ? [] : ['rollout-label.config']),
      ...(options.readinessLabel === true ? ['readiness-label.config'] : []),
    ];
    for (const snippet of snippets) await mergeConfigSnippet(projectConfig, path.join(PLUGIN_CONFIG_DIR, snippet));
    const groupsFile = path.join(metaDir, 'groups');
    const groupLines = (await fsp.readFile(groupsFile, 'utf8')).split('\n').filter((line) => line.trim() !== '');
    const groupsSnippet = await fsp.readFile(path.join(PLUGIN_CONFIG_DIR, 'groups'), 'utf8');
    for (const line of groupsSnippet.split('\n')) {
      if (line.trim() === '' || line.trim().startsWith('#')) continue;
      const match = /^(\S+)\s+(.+)$/.exec(line.trim());
      const name = match?.[2]?.trim();
      if (!name) throw new Error(`gerrit-plugin-config/groups: cannot parse "${line}"`);
      // What the README tells an admin to do with the placeholder: look the UUID up by name.
      const uuid = field<string>(await rest(admin, 'GET', `/groups/${encodeURIComponent(name)}`), 'id', 'string', `group ${name}`);
      const kept = groupLines.filter((existing) => existing.replace(/^\S+\s+/, '').trim() !== name);
      groupLines.splice(0, groupLines.length, ...kept, `${uuid}\t${name}`);
    }
    await fsp.writeFile(groupsFile, `${groupLines.join('\n')}\n`);
    await git(null, ['commit', '-q', '-a', '-m', 'rollgate: apply gerrit-plugin-config'], {
      cwd: metaDir,
      as: { name: names.admin ?? 'admin', email: admin.email },
    });
    await git(admin, ['push', '-q', gitUrl('All-Projects'), 'HEAD:refs/meta/config'], { cwd: metaDir });

    // The project under test, with Code-Review -2..+2 and Submit for registered users.
    const projectId = encodeURIComponent(project);
    await rest(admin, 'PUT', `/projects/${projectId}`, {
      description: 'rollgate test project',
      create_empty_commit: true,
      branches: [branch],
      submit_type: 'MERGE_IF_NECESSARY',
    });
    await rest(admin, 'POST', `/projects/${projectId}/access`, {
      add: {
        'refs/heads/*': {
          permissions: {
            'label-Code-Review': {
              label: 'Code-Review',
              rules: { 'global:Registered-Users': { action: 'ALLOW', min: -2, max: 2 } },
            },
            submit: { rules: { 'global:Registered-Users': { action: 'ALLOW' } } },
          },
        },
      },
    });

    const hookResponse = await fetch(`${httpUrl}/tools/hooks/commit-msg`);
    if (!hookResponse.ok) throw new Error(`GET /tools/hooks/commit-msg -> ${hookResponse.status}`);
    const commitMsgHook = path.join(workDir, 'commit-msg');
    await fsp.writeFile(commitMsgHook, await hookResponse.text(), { mode: 0o755 });
    const provisionMs = Date.now() - provisionStarted;
    log(`provisioned in ${provisionMs} ms (groups ${Object.keys(groups).join(', ')}; project ${project})`);

    // ---- the RealGerrit API ------------------------------------------------------------------
    const changeId = (changeNumber: number): string => `${projectId}~${changeNumber}`;

    const writeFiles = async (dir: string, files: Record<string, string>): Promise<void> => {
      for (const [file, content] of Object.entries(files)) {
        const target = path.resolve(dir, file);
        if (!target.startsWith(`${dir}${path.sep}`)) throw new Error(`file path escapes the repository: ${file}`);
        await fsp.mkdir(path.dirname(target), { recursive: true });
        await fsp.writeFile(target, content);
      }
    };

    const createChange: RealGerrit['createChange'] = async (user, opts) => {
      const dir = await fsp.mkdtemp(path.join(workDir, 'clone-'));
      try {
        await git(user, ['clone', '-q', '--branch', opts.branch ?? branch, gitUrl(project), dir]);
        await fsp.copyFile(commitMsgHook, path.join(dir, '.git', 'hooks', 'commit-msg'));
        await fsp.chmod(path.join(dir, '.git', 'hooks', 'commit-msg'), 0o755);
        await writeFiles(dir, opts.files);
        await git(null, ['add', '-A'], { cwd: dir });
        await git(null, ['commit', '-q', '-m', opts.message], {
          cwd: dir,
          as: { name: names[user.username] ?? user.username, email: user.email },
        });
        await git(user, ['push', '-q', 'origin', `HEAD:refs/for/${opts.branch ?? branch}`], { cwd: dir });
        const revision = (await git(null, ['rev-parse', 'HEAD'], { cwd: dir })).stdout.trim();
        const body = (await git(null, ['log', '-1', '--format=%B'], { cwd: dir })).stdout;
        const id = /^Change-Id: (I[0-9a-f]{40})\s*$/m.exec(body)?.[1];
        if (!id) throw new Error(`the commit-msg hook added no Change-Id:\n${body}`);
        const found = await rest(user, 'GET', `/changes/?q=${encodeURIComponent(`change:${id} project:${project}`)}`);
        const first: unknown = Array.isArray(found) ? found[0] : undefined;
        return { number: field<number>(first, '_number', 'number', `change ${id}`), changeId: id, revision };
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    };

    const uploadPatchSet: RealGerrit['uploadPatchSet'] = async (user, changeNumber, opts) => {
      const info = await rest(user, 'GET', `/changes/${changeId(changeNumber)}?o=CURRENT_REVISION`);
      const targetBranch = field<string>(info, 'branch', 'string', `change ${changeNumber}`);
      const current = field<string>(info, 'current_revision', 'string', `change ${changeNumber}`);
      const revisions = isRecord(info) ? info.revisions : undefined;
      const ref = field<string>(isRecord(revisions) ? revisions[current] : undefined, 'ref', 'string', `change ${changeNumber} revision ${current}`);
      const dir = await fsp.mkdtemp(path.join(workDir, 'clone-'));
      try {
        await git(null, ['init', '-q'], { cwd: dir });
        await git(user, ['fetch', '-q', gitUrl(project), ref], { cwd: dir });
        await git(null, ['checkout', '-q', 'FETCH_HEAD'], { cwd: dir });
        await writeFiles(dir, opts.files);
        await git(null, ['add', '-A'], { cwd: dir });
        // --amend --no-edit keeps the Change-Id line, so Gerrit files this as the change's next patch set
        await git(null, ['commit', '-q', '--amend', '--no-edit'], {
          cwd: dir,
          as: { name: names[user.username] ?? user.username, email: user.email },
        });
        await git(user, ['push', '-q', gitUrl(project), `HEAD:refs/for/${targetBranch}`], { cwd: dir });
        const revision = (await git(null, ['rev-parse', 'HEAD'], { cwd: dir })).stdout.trim();
        const after = await rest(user, 'GET', `/changes/${changeId(changeNumber)}?o=CURRENT_REVISION`);
        const afterRevisions = isRecord(after) ? after.revisions : undefined;
        const patchSet = field<number>(isRecord(afterRevisions) ? afterRevisions[revision] : undefined, '_number', 'number', `change ${changeNumber} revision ${revision}`);
        return { patchSet, revision };
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    };

    const review: RealGerrit['review'] = async (user, changeNumber, opts) => {
      await rest(user, 'POST', `/changes/${changeId(changeNumber)}/revisions/current/review`, {
        ...(opts.labels ? { labels: opts.labels } : {}),
        ...(opts.message !== undefined ? { message: opts.message } : {}),
        ...(opts.tag !== undefined ? { tag: opts.tag } : {}),
      });
    };

    const submit: RealGerrit['submit'] = async (user, changeNumber) => {
      await rest(user, 'POST', `/changes/${changeId(changeNumber)}/submit`, {});
    };

    const getChangeMessages: RealGerrit['getChangeMessages'] = async (changeNumber) => {
      const list = await rest(admin, 'GET', `/changes/${changeId(changeNumber)}/messages`);
      if (!Array.isArray(list)) throw new Error(`change messages: expected a list, got ${JSON.stringify(list)}`);
      return list.map((item: unknown): ChangeMessage => {
        if (!isRecord(item) || typeof item.message !== 'string') {
          throw new Error(`change message without a message: ${JSON.stringify(item)}`);
        }
        return item as unknown as ChangeMessage;
      });
    };

    const timings: RealGerritTimings = { initMs, bootMs, provisionMs, totalMs: Date.now() - startedAt };
    log(`startRealGerrit took ${timings.totalMs} ms (init ${initMs}, boot ${bootMs}, provision ${provisionMs})`);

    return {
      httpUrl,
      sshHost: LOOPBACK,
      sshPort,
      hostKeyFingerprints: hostKeyFingerprints(sitePath),
      sitePath,
      project,
      branch,
      service,
      users: { admin, alice, bob, carol, dave },
      groups,
      logPath: daemon.logPath,
      timings,
      createChange,
      review,
      uploadPatchSet,
      submit,
      getChangeMessages,
      rest,
      restart: async () => {
        if (stopped) throw new Error('restart() after stop()');
        const t = Date.now();
        await daemon.stop(false);
        const stopMs = Date.now() - t;
        bootMs = await daemon.start();
        timings.bootMs = bootMs;
        log(`restarted: stopped in ${stopMs} ms, ready again in ${bootMs} ms`);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
