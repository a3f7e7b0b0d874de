#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { RollgateError } from '../errors.js';
import { UsageError } from './cli-args.js';
import { commandPath, commandsUnder, rollgateProgram, synopsis, type CommandOutcome } from './program.js';

/** Where a wrong command line was found: the command whose usage the one-line error points to. */
class CommandLineError extends Error {
  constructor(
    readonly commander: CommanderError,
    readonly command: Command,
  ) {
    super(commander.message);
  }
}

/**
 * Runs one command line and returns its exit code: 0 done, 1 an expected failure (a
 * `RollgateError`, printed as its message), 2 a wrong command line (one line saying what and
 * where the help is). Anything else is a bug and is thrown, to be printed with its stack.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const outcome: CommandOutcome = { code: 0 };
  const program = rollgateProgram(outcome);
  let running = program;
  for (const command of commandsUnder(program)) {
    // commander reports here instead of exiting; its own error text is replaced by ours
    command.exitOverride((err) => {
      throw new CommandLineError(err, command);
    });
    command.configureOutput({ outputError: () => {} });
    command.hook('preAction', (_, action) => {
      running = action;
    });
  }
  try {
    await program.parseAsync(withHelpLast(program, argv), { from: 'user' });
    return outcome.code;
  } catch (err) {
    if (err instanceof CommandLineError) return commandLineFailed(err);
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message} (see ${commandPath(running)} --help)\n`);
      return 2;
    }
    if (!(err instanceof RollgateError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
}

/**
 * `rollgate help policy check` is `rollgate policy check --help`, at any depth. A name that is no
 * command is left without `--help`, so it is reported as an unknown command (exit 2).
 */
function withHelpLast(program: Command, argv: readonly string[]): string[] {
  if (argv[0] !== 'help') return [...argv];
  const names = argv.slice(1);
  let command: Command | undefined = program;
  for (const name of names) command = command?.commands.find((c) => c.name() === name);
  return command ? [...names, '--help'] : names;
}

function commandLineFailed({ commander, command }: CommandLineError): number {
  // help or the version, asked for: printed on stdout
  if (commander.code === 'commander.helpDisplayed' || commander.code === 'commander.version') return 0;
  // help asked for with `help <command>` (exit code 0), or a command that needs a subcommand
  // (rollgate, rollgate policy) given none: its help went to stderr
  if (commander.code === 'commander.help') return commander.exitCode === 0 ? 0 : 2;
  const where = commandPath(command);
  const problem = commander.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
  if (commander.code === 'commander.unknownCommand') {
    const name = /'(.*)'/.exec(problem)?.[1] ?? '';
    const runnable = commandsUnder(command).filter((c) => c !== command && c.commands.length === 0);
    process.stderr.write(`${where}: unknown command: ${name}; the commands are ${runnable.map(synopsis).join(', ')} (see ${where} --help)\n`);
  } else {
    process.stderr.write(`${where}: ${problem} (see ${where} --help)\n`);
  }
  return 2;
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
