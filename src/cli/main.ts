#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { configuredTarget, createDatabase, migrateToLatest } from '../db/database.js';
import { loadPolicy } from '../load-policy.js';
import { describeGroupRefs } from '../policy/roles.js';
import { RollgateError } from '../errors.js';
import { createLogger } from '../log.js';
import { startService, type RunningService } from '../service/service.js';
import { StartAborted } from '../start-abort.js';
import { auditCommand } from './audit.js';
import { UsageError } from './cli-args.js';
import { explainCommand } from './explain.js';
import { policyTestCommand } from './policy-test.js';
import { replayCommand } from './replay.js';

const USAGE = `usage: rollgate <command>

commands:
  serve                 run the service: intake, decisions, rollouts, reports, HTTP API
  migrate               apply database migrations and exit
  policy check [dir]    validate policies and workflows (default: ROLLGATE_POLICY_DIR or ./policies)
  policy test [dir]     run the policy's tests, <dir>/tests/*.yaml; exit 1 on any failure
  explain <change> [--project P] [--json] [--policies DIR]
                        the decision for a change now, with every reason, and its rollouts
  replay <events.jsonl> [--dry-run] [--policies DIR] [--groups FILE]
                        decide recorded stream-events lines (and, without --dry-run, run the rollouts)
  audit verify [--head ID:HASH] [--from-gerrit]
                        check the hash-chained audit trail end to end; exit 1 naming the first broken row;
                        --from-gerrit also checks the audit heads rollgate posted in its review messages
  audit export [--out FILE] [--after ID]
                        write the audit trail as JSON lines, with hashes, to check elsewhere

configuration is read from the environment (see docs/configuration.md).`;

/** Runs one command and returns its exit code; prints expected errors as plain sentences, not stacks. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (err) {
    if (!(err instanceof RollgateError)) throw err;
    process.stderr.write(`${err.message}\n`);
    if (err instanceof UsageError) {
      process.stderr.write(`\n${USAGE}\n`);
      return 2;
    }
    return 1;
  }
}

async function run(argv: readonly string[]): Promise<number> {
  // these parse their own options
  if (argv[0] === 'explain') return explainCommand(argv.slice(1));
  if (argv[0] === 'replay') return replayCommand(argv.slice(1));
  if (argv[0] === 'audit') return auditCommand(argv.slice(1));
  if (argv[0] === 'policy' && argv[1] === 'test') return policyTestCommand(argv.slice(2));
  const { positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: {} });
  const [command, ...rest] = positionals;
  switch (command) {
    case 'serve':
      return serve();
    case 'migrate':
      return migrate();
    case 'policy':
      if (rest[0] === 'check') return policyCheck(rest[1]);
      break;
  }
  process.stderr.write(`${command ? `unknown command: ${[command, ...rest].join(' ')}\n\n` : ''}${USAGE}\n`);
  return 2;
}

async function serve(): Promise<number> {
  // the handlers come before anything async, so a stop asked for while starting is a clean stop too
  const stop = new AbortController();
  const stopNow = () => stop.abort();
  process.once('SIGINT', stopNow);
  process.once('SIGTERM', stopNow);
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  let service: RunningService | undefined;
  // SIGHUP reads the policy files again (the default action would end the process)
  const reload = () => {
    if (service) void service.reloadPolicy();
    else logger.warn('SIGHUP while starting: the policy being loaded is the one on disk now');
  };
  process.on('SIGHUP', reload);
  try {
    service = await startService(config, logger, { signal: stop.signal });
  } catch (err) {
    if (!(err instanceof StartAborted)) throw err;
    logger.info('stopped during start');
    return 0;
  }
  if (stop.signal.aborted) {
    // the signal came as the last stage finished: stop what has just started
    await service.stop();
    logger.info('stopped during start');
    return 0;
  }
  if (!config.gerritSsh || !config.gerritRest) {
    process.stderr.write(
      `rollgate is running at ${service.url} on ${config.databaseUrl ? 'PostgreSQL' : `the embedded database in ${config.dataDir}`}.\n` +
        `To reach a Gerrit, set GERRIT_URL, GERRIT_HTTP_USER, GERRIT_HTTP_PASSWORD_FILE (REST) and\n` +
        `GERRIT_SSH_HOST, GERRIT_SSH_USER, GERRIT_SSH_KEY_FILE, GERRIT_SSH_HOST_KEY (stream-events); see docs/configuration.md.\n`,
    );
  }
  await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  await service.stop();
  process.off('SIGHUP', reload);
  return 0;
}

async function migrate(): Promise<number> {
  const config = loadConfig();
  const database = await createDatabase(configuredTarget(config));
  try {
    const result = await migrateToLatest(database.db);
    for (const name of result.applied) process.stdout.write(`applied ${name}\n`);
    if (result.error !== undefined) {
      process.stderr.write(`migration failed: ${(result.error as Error).message}\n`);
      return 1;
    }
    if (result.applied.length === 0) process.stdout.write('database is up to date\n');
    return 0;
  } finally {
    await database.close();
  }
}

function policyCheck(dir: string | undefined): number {
  const policyDir = dir ?? loadConfig().policyDir;
  const policy = loadPolicy(policyDir);
  process.stdout.write(`${policyDir}: ok (${Object.keys(policy.roles).length} roles, ${policy.rollouts.length} rollout rules, ${Object.keys(policy.workflows).length} workflows)\n`);
  // how each gerrit_groups entry is matched: a UUID only against UUIDs, a name only against names
  for (const line of describeGroupRefs(policy.roles)) process.stdout.write(`  ${line}\n`);
  return 0;
}

/**
 * Resolves once everything written to `stream` so far has been handed to the operating system.
 * A pipe (`rollgate replay … | cat`) is written asynchronously: exiting before this cuts the
 * output off at the pipe's buffer size. A reader that went away (EPIPE) counts as flushed.
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) return resolve();
    stream.write('', () => resolve());
  });
}

/**
 * Every command ends here: its output is flushed, then the process exits with its code. Exiting
 * explicitly (rather than waiting for the event loop to empty) keeps a lingering handle, such as
 * a database connection still being attempted, from holding a finished command open.
 */
async function exitWhenFlushed(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

// Run when executed as the bin, not when imported by tests.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(exitWhenFlushed, (err: unknown) => {
    process.stderr.write(`rollgate failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return exitWhenFlushed(1);
  });
}
