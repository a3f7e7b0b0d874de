import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import cron from 'node-cron';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { parseDuration } from './duration.js';
import type { PgConnectionSettings } from './db/database.js';
import type { GerritRestConfig } from './gerrit/gerrit-rest-client.js';
import { parseFingerprintList } from './gerrit/host-key.js';
import { LOG_FORMATS, type LogFormat } from './log.js';

/**
 * Every setting rollgate reads, by its environment variable name. An optional config file
 * (`ROLLGATE_CONFIG`, YAML or JSON with the same keys) supplies defaults; the environment wins.
 * Secrets (`GERRIT_HTTP_PASSWORD`) may instead come from a file (`GERRIT_HTTP_PASSWORD_FILE`).
 */
const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const RawConfigSchema = z.object({
  PORT: intFrom(0, 65535).default(8787),
  HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(LOG_FORMATS).default('pino'),
  DATABASE_URL: z.string().url().optional(),
  ROLLGATE_DATA_DIR: z.string().min(1).default('.rollgate/data'),
  ROLLGATE_POLICY_DIR: z.string().min(1).default('policies'),
  ROLLGATE_POLICY_REPO: z.string().regex(/^[^:\s]+:[^:\s]+$/, 'give <project>:<branch>, e.g. ops/policy:main').optional(),
  ROLLGATE_WORK_DIR: z.string().min(1).default('.'),
  ROLLGATE_SETTLE_MS: intFrom(0, 600_000).default(5000),
  ROLLGATE_WEBHOOK_SECRET: z.string().min(16, 'use at least 16 characters').optional(),
  ROLLGATE_WEBHOOK_SECRET_FILE: z.string().min(1).optional(),
  ROLLGATE_WEBHOOK_MAX_BYTES: intFrom(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  ROLLGATE_HOLD_EXPIRY: z.string().refine((v) => parseDuration(v) !== undefined, 'not a duration (e.g. 30m, 24h, 2d)').default('24h'),
  ROLLGATE_RETENTION: z.string().refine((v) => v === 'off' || parseDuration(v) !== undefined, 'not a duration (e.g. 30d) or off').default('90d'),
  ROLLGATE_PUBLIC_URL: z.string().url().optional(),
  ROLLGATE_WORKERS: intFrom(1, 64).default(4),
  ROLLGATE_LEASE_MS: intFrom(1000, 3_600_000).default(30_000),
  ROLLGATE_LEADER_POLL_MS: intFrom(100, 600_000).default(2000),
  ROLLGATE_LEADER_LEASE_MS: intFrom(500, 600_000).default(10_000),
  ROLLGATE_LEADER_RENEW_MS: intFrom(100, 600_000).optional(),
  ROLLGATE_PG_KEEPALIVE_MS: intFrom(0, 3_600_000).default(10_000),
  ROLLGATE_PG_STATEMENT_TIMEOUT_MS: intFrom(0, 86_400_000).default(60_000),
  ROLLGATE_PG_PREPARED_STATEMENTS: intFrom(0, 10_000).default(256),
  ROLLGATE_STALL_MS: intFrom(100, 86_400_000).default(300_000),
  ROLLGATE_POLICY_CHECK_LABEL: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]*$/, 'a Gerrit label name (letters, digits, "-")').optional(),
  ROLLGATE_READINESS_LABEL: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]*$/, 'a Gerrit label name (letters, digits, "-")').optional(),
  ROLLGATE_BACKFILL_CRON: z.string().refine((v) => cron.validate(v), 'not a cron expression (e.g. */10 * * * *)').default('*/10 * * * *'),
  ROLLGATE_STEP_ENV: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*$/, 'a comma-separated list of variable names').optional(),
  GERRIT_URL: z.string().url().optional(),
  GERRIT_HTTP_USER: z.string().min(1).optional(),
  GERRIT_HTTP_PASSWORD: z.string().min(1).optional(),
  GERRIT_HTTP_PASSWORD_FILE: z.string().min(1).optional(),
  GERRIT_SSH_HOST: z.string().min(1).optional(),
  GERRIT_SSH_PORT: intFrom(1, 65535).default(29418),
  GERRIT_SSH_USER: z.string().min(1).optional(),
  GERRIT_SSH_KEY_FILE: z.string().min(1).optional(),
  GERRIT_SSH_HOST_KEY: z.string().min(1).optional(),
  ROLLGATE_OIDC_ISSUER: z.string().url().optional(),
  ROLLGATE_OIDC_CLIENT_ID: z.string().min(1).optional(),
  ROLLGATE_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  ROLLGATE_OIDC_CLIENT_SECRET_FILE: z.string().min(1).optional(),
  ROLLGATE_OIDC_REDIRECT_URL: z.string().url().optional(),
  ROLLGATE_OIDC_SCOPES: z.string().min(1).default('openid profile email'),
  ROLLGATE_OIDC_GROUPS_CLAIM: z.string().min(1).default('groups'),
  ROLLGATE_OIDC_ACCOUNT_CLAIM: z.string().min(1).default('preferred_username'),
  ROLLGATE_SESSION_SECRET: z.string().min(32, 'use at least 32 characters').optional(),
  ROLLGATE_SESSION_SECRET_FILE: z.string().min(1).optional(),
  ROLLGATE_SESSION_TTL: z.string().refine((v) => parseDuration(v) !== undefined, 'not a duration (e.g. 30m, 12h)').default('12h'),
  ROLLGATE_STEP_TOKEN_KEY: z.string().min(32, 'use at least 32 characters').optional(),
  ROLLGATE_STEP_TOKEN_KEY_FILE: z.string().min(1).optional(),
  ROLLGATE_STEP_TOKEN_ROTATE: z
    .string()
    .refine((v) => (parseDuration(v) ?? 0) >= 5 * 60_000 && (parseDuration(v) ?? Infinity) <= 365 * 86_400_000, 'a duration from 5m to 365d (e.g. 7d)')
    .default('7d'),
});

export interface GerritSshConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKey: Buffer;
  readonly hostKeyFingerprints: readonly string[];
}

/** OpenID Connect: operators log in to the web page and API; steps may ask for client-credentials tokens. */
export interface OidcConfig {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Where the IdP sends the browser back after login: `<public URL>/auth/callback` unless set. */
  readonly redirectUrl: string;
  readonly scopes: string;
  /** The claim with the operator's IdP groups (mapped to roles by `idp_groups` in roles.yaml). */
  readonly groupsClaim: string;
  /** The claim that names the operator's Gerrit account: `preferred_username` (a username) or `email`. */
  readonly accountClaim: string;
  /** Signs the session cookie; every replica must have the same one. */
  readonly sessionSecret: string;
  readonly sessionTtlMs: number;
}

/** rollgate as an OpenID issuer of identity tokens for its steps (`credentials.identity`). */
export interface StepTokenConfig {
  /** `iss` of every token: ROLLGATE_PUBLIC_URL without a trailing slash. */
  readonly issuer: string;
  /** Encrypts the signing keys' private halves in the database; the same on every replica. */
  readonly keySecret: string;
  /** How long one signing key signs before the next one takes over. */
  readonly rotateMs: number;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly logLevel: string;
  /** `iso`: ISO-8601 times and level names in log records, instead of pino's epoch ms and level numbers. */
  readonly logFormat: LogFormat;
  /** PostgreSQL URL; absent means the embedded PGlite database in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly policyDir: string;
  /** Working directory of `run` steps, so `./ops/deploy.sh` resolves the same way every time. */
  readonly workDir: string;
  /** How long to wait after a merge before reading the change, because Gerrit's index can lag its events. */
  readonly settleMs: number;
  /** The secret webhook deliveries must present; absent turns the webhook intake off. */
  readonly webhookSecret: string | undefined;
  readonly webhookMaxBytes: number;
  /** How long a held rollout waits for an approval before it expires. */
  readonly holdExpiryMs: number;
  /** How long handled event lines and sent review messages are kept; undefined keeps them forever. */
  readonly retentionMs: number | undefined;
  /** Where people reach rollgate's web page and API; used for links in review comments. */
  readonly publicUrl: string | undefined;
  /**
   * The environment `run` steps see (and `${env.NAME}` can read): a short safe list plus the
   * names in ROLLGATE_STEP_ENV. Nothing else of rollgate's environment, so its secrets stay out.
   */
  readonly stepEnv: Readonly<Record<string, string>>;
  /** How many rollouts (of different environments) one process drives at the same time. */
  readonly workers: number;
  /** How long a rollout's lease lasts without a heartbeat: after a crash, another worker resumes it after this. */
  readonly leaseMs: number;
  /** With several replicas on one PostgreSQL: how often a follower tries to take over the Gerrit stream's lease. */
  readonly leaderPollMs: number;
  /** How long the stream leader's lease lasts unrenewed: a hung leader is replaced once it lapses. */
  readonly leaderLeaseMs: number;
  /** How often the stream leader renews its lease (default a third of the lease). */
  readonly leaderRenewMs: number;
  /** TCP keepalive and statement timeout of every PostgreSQL connection. */
  readonly pgConnection: PgConnectionSettings;
  /** Silence on a connected stream after which Gerrit REST is asked whether the stream missed merges. */
  readonly stallMs: number;
  /** node-cron schedule of the periodic back-fill sweep. */
  readonly backfillCron: string;
  /** The label rollgate votes on an open change: +1 when it would roll out if merged now (off when unset). */
  readonly readinessLabel: string | undefined;
  /** The Gerrit project and branch the policy is read from over Git, instead of `policyDir`. */
  readonly policyRepo: { readonly project: string; readonly branch: string } | undefined;
  /** The label (e.g. Verified) rollgate votes +1/-1 on open policy changes after checking them; unset: a message only. */
  readonly policyCheckLabel: string | undefined;
  /** Absent until all of GERRIT_URL, GERRIT_HTTP_USER and a password are set. */
  readonly gerritRest: GerritRestConfig | undefined;
  /** Absent until all of GERRIT_SSH_HOST, GERRIT_SSH_USER, GERRIT_SSH_KEY_FILE and GERRIT_SSH_HOST_KEY are set. */
  readonly gerritSsh: GerritSshConfig | undefined;
  /** Absent until ROLLGATE_OIDC_ISSUER, ROLLGATE_OIDC_CLIENT_ID, a client secret and a session secret are set. */
  readonly oidc: OidcConfig | undefined;
  /** Absent until ROLLGATE_STEP_TOKEN_KEY_FILE (or ROLLGATE_STEP_TOKEN_KEY) is set; needs ROLLGATE_PUBLIC_URL. */
  readonly stepTokens: StepTokenConfig | undefined;
  /**
   * Every secret rollgate holds (see `heldSecrets`), redacted from step output, HTTP excerpts and
   * error texts before they are stored, logged or posted.
   */
  readonly secrets: readonly string[];
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads the config file (if any) and the environment into a checked `Config`, or throws `ConfigError`. */
export function loadConfig(env: Env = process.env): Config {
  const fromFile = env.ROLLGATE_CONFIG ? readConfigFile(env.ROLLGATE_CONFIG) : {};
  const merged: Record<string, unknown> = { ...fromFile };
  const fromEnv = new Set<string>();
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '' && key in RawConfigSchema.shape) {
      merged[key] = value;
      fromEnv.add(key);
    }
  }
  const parsed = RawConfigSchema.safeParse(merged);
  if (!parsed.success) {
    // a value that came from the config file is named with the file, so the operator knows where to fix it
    const origin = (key: string) => (env.ROLLGATE_CONFIG && key in fromFile && !fromEnv.has(key) ? `${env.ROLLGATE_CONFIG}: ` : '');
    const lines = parsed.error.issues.map((issue) => `${origin(String(issue.path[0]))}${issue.path.join('.') || '(config)'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const raw = parsed.data;
  const config: Omit<Config, 'secrets'> = {
    port: raw.PORT,
    host: raw.HOST,
    logLevel: raw.LOG_LEVEL,
    logFormat: raw.LOG_FORMAT,
    databaseUrl: raw.DATABASE_URL,
    // memory:// keeps PGlite's data in memory (tests); anything else is a folder
    dataDir: raw.ROLLGATE_DATA_DIR.startsWith('memory://') ? raw.ROLLGATE_DATA_DIR : path.resolve(raw.ROLLGATE_DATA_DIR),
    policyDir: path.resolve(raw.ROLLGATE_POLICY_DIR),
    workDir: path.resolve(raw.ROLLGATE_WORK_DIR),
    settleMs: raw.ROLLGATE_SETTLE_MS,
    holdExpiryMs: parseDuration(raw.ROLLGATE_HOLD_EXPIRY)!,
    retentionMs: raw.ROLLGATE_RETENTION === 'off' ? undefined : parseDuration(raw.ROLLGATE_RETENTION)!,
    webhookSecret: raw.ROLLGATE_WEBHOOK_SECRET ?? (raw.ROLLGATE_WEBHOOK_SECRET_FILE ? readSecretFile('ROLLGATE_WEBHOOK_SECRET_FILE', raw.ROLLGATE_WEBHOOK_SECRET_FILE) : undefined),
    webhookMaxBytes: raw.ROLLGATE_WEBHOOK_MAX_BYTES,
    publicUrl: raw.ROLLGATE_PUBLIC_URL,
    stepEnv: stepEnvFrom(env, raw.ROLLGATE_STEP_ENV),
    workers: raw.ROLLGATE_WORKERS,
    leaseMs: raw.ROLLGATE_LEASE_MS,
    leaderPollMs: raw.ROLLGATE_LEADER_POLL_MS,
    leaderLeaseMs: raw.ROLLGATE_LEADER_LEASE_MS,
    leaderRenewMs: raw.ROLLGATE_LEADER_RENEW_MS ?? Math.max(100, Math.floor(raw.ROLLGATE_LEADER_LEASE_MS / 3)),
    pgConnection: { keepAliveMs: raw.ROLLGATE_PG_KEEPALIVE_MS, statementTimeoutMs: raw.ROLLGATE_PG_STATEMENT_TIMEOUT_MS, preparedStatements: raw.ROLLGATE_PG_PREPARED_STATEMENTS },
    stallMs: raw.ROLLGATE_STALL_MS,
    backfillCron: raw.ROLLGATE_BACKFILL_CRON,
    readinessLabel: raw.ROLLGATE_READINESS_LABEL,
    policyRepo: policyRepoFrom(raw),
    policyCheckLabel: raw.ROLLGATE_POLICY_CHECK_LABEL,
    gerritRest: gerritRestFrom(raw),
    gerritSsh: gerritSshFrom(raw),
    oidc: oidcFrom(raw),
    stepTokens: stepTokensFrom(raw),
  };
  // a renewal must land well inside the lease, or a healthy leader would lose it between two
  if (config.leaderRenewMs * 2 > config.leaderLeaseMs) {
    throw new ConfigError(`invalid configuration:\nROLLGATE_LEADER_RENEW_MS: ${config.leaderRenewMs} is more than half of ROLLGATE_LEADER_LEASE_MS (${config.leaderLeaseMs}): the leader must be able to renew at least twice before its lease lapses`);
  }
  if (config.policyRepo && !config.gerritRest) throw new ConfigError('invalid configuration:\nROLLGATE_POLICY_REPO: reading the policy from Gerrit needs Gerrit REST (GERRIT_URL, GERRIT_HTTP_USER, GERRIT_HTTP_PASSWORD_FILE): rollgate fetches it over Git with those credentials');
  return { ...config, secrets: heldSecrets(config, env) };
}

function policyRepoFrom(raw: RawConfig): Config['policyRepo'] {
  if (raw.ROLLGATE_POLICY_REPO === undefined) return undefined;
  const [project, branch] = raw.ROLLGATE_POLICY_REPO.split(':') as [string, string];
  return { project, branch: branch.replace(/^refs\/heads\//, '') };
}

/**
 * The secrets rollgate holds, collected where its settings are read so none is forgotten: the
 * webhook secret, the Gerrit HTTP password and SSH private key (whole, and each line of its
 * body, since a step may print part of it), the OIDC client secret, the session secret, and
 * the database password (from DATABASE_URL, or PGPASSWORD, which the PostgreSQL driver reads).
 */
function heldSecrets(config: Omit<Config, 'secrets'>, env: Env): string[] {
  const key = config.gerritSsh?.privateKey.toString('utf8');
  const keyLines = key?.split(/\r?\n/).filter((line) => line.length >= 16 && !line.startsWith('-----')) ?? [];
  const candidates = [
    config.webhookSecret,
    config.gerritRest?.password,
    key,
    ...keyLines,
    config.oidc?.clientSecret,
    config.oidc?.sessionSecret,
    config.stepTokens?.keySecret,
    databasePassword(config.databaseUrl),
    env.PGPASSWORD,
  ];
  return [...new Set(candidates.filter((v): v is string => v !== undefined && v !== ''))];
}

function stepTokensFrom(raw: RawConfig): StepTokenConfig | undefined {
  const keySecret = raw.ROLLGATE_STEP_TOKEN_KEY ?? (raw.ROLLGATE_STEP_TOKEN_KEY_FILE ? readSecretFile('ROLLGATE_STEP_TOKEN_KEY_FILE', raw.ROLLGATE_STEP_TOKEN_KEY_FILE) : undefined);
  if (keySecret === undefined) return undefined;
  if (keySecret.length < 32) throw new ConfigError('ROLLGATE_STEP_TOKEN_KEY_FILE: use at least 32 characters');
  if (raw.ROLLGATE_PUBLIC_URL === undefined) throw new ConfigError('ROLLGATE_STEP_TOKEN_KEY_FILE: step identity tokens need ROLLGATE_PUBLIC_URL, their issuer (where verifiers fetch /.well-known/openid-configuration)');
  return { issuer: raw.ROLLGATE_PUBLIC_URL.replace(/\/+$/, ''), keySecret, rotateMs: parseDuration(raw.ROLLGATE_STEP_TOKEN_ROTATE)! };
}

function databasePassword(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const password = new URL(url).password;
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}

type RawConfig = z.infer<typeof RawConfigSchema>;

const SAFE_STEP_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER'];

function stepEnvFrom(env: Env, extra: string | undefined): Record<string, string> {
  const names = [...SAFE_STEP_ENV, ...(extra ? extra.split(',').map((n) => n.trim()) : [])];
  return Object.fromEntries(names.flatMap((n) => (env[n] !== undefined ? [[n, env[n]!]] : [])));
}

function gerritRestFrom(raw: RawConfig): GerritRestConfig | undefined {
  const given = [raw.GERRIT_URL, raw.GERRIT_HTTP_USER, raw.GERRIT_HTTP_PASSWORD ?? raw.GERRIT_HTTP_PASSWORD_FILE];
  if (given.every((v) => v === undefined)) return undefined;
  requireAll('Gerrit REST', { GERRIT_URL: raw.GERRIT_URL, GERRIT_HTTP_USER: raw.GERRIT_HTTP_USER, 'GERRIT_HTTP_PASSWORD or GERRIT_HTTP_PASSWORD_FILE': given[2] });
  const password = raw.GERRIT_HTTP_PASSWORD ?? readSecretFile('GERRIT_HTTP_PASSWORD_FILE', raw.GERRIT_HTTP_PASSWORD_FILE!);
  return { url: raw.GERRIT_URL!.replace(/\/+$/, ''), user: raw.GERRIT_HTTP_USER!, password };
}

function gerritSshFrom(raw: RawConfig): GerritSshConfig | undefined {
  const given = { GERRIT_SSH_HOST: raw.GERRIT_SSH_HOST, GERRIT_SSH_USER: raw.GERRIT_SSH_USER, GERRIT_SSH_KEY_FILE: raw.GERRIT_SSH_KEY_FILE, GERRIT_SSH_HOST_KEY: raw.GERRIT_SSH_HOST_KEY };
  if (Object.values(given).every((v) => v === undefined)) return undefined;
  requireAll('Gerrit SSH', given);
  let hostKeyFingerprints: string[];
  try {
    hostKeyFingerprints = parseFingerprintList(raw.GERRIT_SSH_HOST_KEY!);
  } catch (err) {
    throw new ConfigError(`GERRIT_SSH_HOST_KEY: ${(err as Error).message}`);
  }
  return {
    host: raw.GERRIT_SSH_HOST!,
    port: raw.GERRIT_SSH_PORT,
    user: raw.GERRIT_SSH_USER!,
    privateKey: Buffer.from(readSecretFile('GERRIT_SSH_KEY_FILE', raw.GERRIT_SSH_KEY_FILE!)),
    hostKeyFingerprints,
  };
}

function oidcFrom(raw: RawConfig): OidcConfig | undefined {
  const clientSecret = raw.ROLLGATE_OIDC_CLIENT_SECRET ?? raw.ROLLGATE_OIDC_CLIENT_SECRET_FILE;
  const sessionSecret = raw.ROLLGATE_SESSION_SECRET ?? raw.ROLLGATE_SESSION_SECRET_FILE;
  const given = { ROLLGATE_OIDC_ISSUER: raw.ROLLGATE_OIDC_ISSUER, ROLLGATE_OIDC_CLIENT_ID: raw.ROLLGATE_OIDC_CLIENT_ID, 'ROLLGATE_OIDC_CLIENT_SECRET or ROLLGATE_OIDC_CLIENT_SECRET_FILE': clientSecret };
  if (Object.values(given).every((v) => v === undefined)) return undefined;
  requireAll('OIDC', { ...given, 'ROLLGATE_SESSION_SECRET or ROLLGATE_SESSION_SECRET_FILE': sessionSecret });
  const issuer = new URL(raw.ROLLGATE_OIDC_ISSUER!);
  // tokens and codes travel to the issuer: plain http only where nothing leaves the machine
  if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname))) {
    throw new ConfigError(`ROLLGATE_OIDC_ISSUER: use https (http is allowed only on loopback hosts such as 127.0.0.1), got ${issuer.origin}`);
  }
  const redirectUrl = raw.ROLLGATE_OIDC_REDIRECT_URL ?? (raw.ROLLGATE_PUBLIC_URL ? `${raw.ROLLGATE_PUBLIC_URL.replace(/\/+$/, '')}/auth/callback` : undefined);
  if (redirectUrl === undefined) throw new ConfigError('OIDC: set ROLLGATE_PUBLIC_URL (or ROLLGATE_OIDC_REDIRECT_URL) so the IdP knows where to send people back');
  const fromFile = (value: string | undefined, setting: string, file: string | undefined) => value ?? readSecretFile(setting, file!);
  const session = fromFile(raw.ROLLGATE_SESSION_SECRET, 'ROLLGATE_SESSION_SECRET_FILE', raw.ROLLGATE_SESSION_SECRET_FILE);
  if (session.length < 32) throw new ConfigError('ROLLGATE_SESSION_SECRET_FILE: use at least 32 characters');
  return {
    issuer: raw.ROLLGATE_OIDC_ISSUER!,
    clientId: raw.ROLLGATE_OIDC_CLIENT_ID!,
    clientSecret: fromFile(raw.ROLLGATE_OIDC_CLIENT_SECRET, 'ROLLGATE_OIDC_CLIENT_SECRET_FILE', raw.ROLLGATE_OIDC_CLIENT_SECRET_FILE),
    redirectUrl,
    scopes: raw.ROLLGATE_OIDC_SCOPES,
    groupsClaim: raw.ROLLGATE_OIDC_GROUPS_CLAIM,
    accountClaim: raw.ROLLGATE_OIDC_ACCOUNT_CLAIM,
    sessionSecret: session,
    sessionTtlMs: parseDuration(raw.ROLLGATE_SESSION_TTL)!,
  };
}

/** 127.0.0.0/8, ::1 and localhost: addresses that never leave the machine. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function requireAll(what: string, values: Record<string, string | undefined>): void {
  const missing = Object.entries(values).filter(([, v]) => v === undefined).map(([k]) => k);
  if (missing.length > 0) throw new ConfigError(`${what} is partly configured: also set ${missing.join(', ')}`);
}

function readSecretFile(setting: string, file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(`${setting}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`ROLLGATE_CONFIG: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML or JSON: ${(err as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${file}: must be a mapping of setting names to values`);
  const unknownKeys = Object.keys(value).filter((k) => !(k in RawConfigSchema.shape));
  if (unknownKeys.length > 0) throw new ConfigError(`${file}: unknown setting(s): ${unknownKeys.join(', ')}`);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeof v === 'number' ? String(v) : v]));
}
