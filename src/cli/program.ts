import { Command } from 'commander';
import { auditExportCommand, auditVerifyCommand } from './audit.js';
import { explainCommand } from './explain.js';
import { migrateCommand } from './migrate.js';
import { policyCheckCommand } from './policy-check.js';
import { policyTestCommand } from './policy-test.js';
import { replayCommand } from './replay.js';
import { serveCommand } from './serve.js';
import { rollgateVersion } from '../package-version.js';

/** What a command's action returns: its exit code. main waits for it after commander has parsed. */
export interface CommandOutcome {
  code: number;
}

const AFTER_HELP = `
Configuration is read from the environment (see docs/configuration.md).
Exit codes: 0 done (a check passed), 1 the work failed or found a problem (the message says which),
2 the command line is wrong (one line says what; add --help to the command for its usage).`;

/**
 * The command line, on commander: every command and subcommand gets `--help`, `rollgate help
 * <command>` and `--version` come with it, and a wrong command line is an error commander
 * reports (main turns it into one line and exit 2). Each action stores its exit code in
 * `outcome`; the work itself is in the command's own file.
 */
export function rollgateProgram(outcome: CommandOutcome): Command {
  const program = new Command('rollgate')
    .description('Gerrit-centric merge-to-rollout service: code review is the approval gate')
    .version(rollgateVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for the command')
    .helpCommand('help [command]', 'show help for a command')
    .addHelpText('after', AFTER_HELP)
    .showSuggestionAfterError(true);
  const done = (code: number) => {
    outcome.code = code;
  };

  program
    .command('serve')
    .description('run the service: intake, decisions, rollouts, reports, HTTP API (SIGINT/SIGTERM stop it, SIGHUP reloads the policy)')
    .action(async () => done(await serveCommand()));

  program
    .command('migrate')
    .description('apply database migrations and exit (serve also does this at start)')
    .action(async () => done(await migrateCommand()));

  const policy = program.command('policy').description('check the policy folder, or run its tests');
  policy
    .command('check')
    .description('validate roles.yaml, rollouts.yaml and workflows/*.yaml; exit 1 on any problem')
    .argument('[dir]', 'the policy folder (default: ROLLGATE_POLICY_DIR or ./policies)')
    .option('--json', 'print one JSON object (see docs/commands.md)')
    .action((dir: string | undefined, options: { json?: boolean }) => done(policyCheckCommand(dir, { json: options.json === true })));
  policy
    .command('test')
    .description("run the policy's tests, <dir>/tests/*.yaml; exit 1 on any failure")
    .argument('[dir]', 'the policy folder (default: ROLLGATE_POLICY_DIR or ./policies)')
    .option('--json', 'print one JSON object (see docs/commands.md)')
    .option('--junit <file>', 'also write the results as JUnit XML, for CI')
    .action((dir: string | undefined, options: { json?: boolean; junit?: string }) => done(policyTestCommand(dir, { json: options.json === true, junit: options.junit })));

  program
    .command('explain')
    .description('the decision for a change now, read over Gerrit REST, with every reason, and its rollouts')
    .argument('<change>', 'the change number')
    .option('--project <project>', 'the Gerrit project, when the number alone is ambiguous')
    .option('--json', 'print one JSON object per rule')
    .option('--policies <dir>', 'decide under this policy folder instead of the one serve uses')
    .action(async (change: string, options: { project?: string; json?: boolean; policies?: string }) => done(await explainCommand(change, { ...options, json: options.json === true })));

  program
    .command('replay')
    .description('decide recorded stream-events lines as they happened (and, without --dry-run, run the rollouts)')
    .argument('<events.jsonl>', 'a file of gerrit stream-events lines')
    .option('--dry-run', 'store, run and post nothing; print the decisions only')
    .option('--policies <dir>', 'the policy folder (default: ROLLGATE_POLICY_DIR or ./policies)')
    .option('--groups <file>', "people's Gerrit groups, as YAML (default: looked up over Gerrit REST)")
    .option('--progress', 'print progress on stderr even when it is not a terminal')
    .action(async (file: string, options: { dryRun?: boolean; policies?: string; groups?: string; progress?: boolean }) =>
      done(await replayCommand(file, { dryRun: options.dryRun === true, policies: options.policies, groups: options.groups, progress: options.progress === true })),
    );

  const audit = program.command('audit').description('check or export the hash-chained audit trail');
  audit
    .command('verify')
    .description('walk the audit trail from its first row; exit 1 naming the first broken row')
    .option('--head <id:hash>', 'a head printed earlier, which must still be there unchanged')
    .option('--from-gerrit', 'also check every audit head rollgate posted in its review messages')
    .option('--json', 'print one JSON object (see docs/commands.md)')
    .action(async (options: { head?: string; fromGerrit?: boolean; json?: boolean }) => done(await auditVerifyCommand({ head: options.head, fromGerrit: options.fromGerrit === true, json: options.json === true })));
  audit
    .command('export')
    .description('write the audit trail as JSON lines, with hashes, to check elsewhere')
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--after <id>', 'only rows after this id')
    .action(async (options: { out?: string; after?: string }) => done(await auditExportCommand(options)));

  return program;
}

/** Every command under `command`, itself included, depth first. */
export function commandsUnder(command: Command): Command[] {
  return [command, ...command.commands.flatMap(commandsUnder)];
}

/** `rollgate policy check`: the names from the program down to `command`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** `policy check [dir]`: a runnable command (no subcommands) as typed after `rollgate`, with its arguments. */
export function synopsis(command: Command): string {
  const args = command.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`));
  return [commandPath(command).split(' ').slice(1).join(' '), ...args].join(' ');
}
