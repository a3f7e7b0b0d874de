import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/run-cli.js';

/** Every command and subcommand, as typed after `rollgate`, with a word its help must show. */
const COMMANDS: ReadonlyArray<readonly [readonly string[], string]> = [
  [['serve'], 'run the service'],
  [['migrate'], 'apply database migrations'],
  [['policy'], 'check [options] [dir]'],
  [['policy', 'check'], '--json'],
  [['policy', 'test'], '--junit <file>'],
  [['explain'], '--project <project>'],
  [['replay'], '--dry-run'],
  [['audit'], 'verify [options]'],
  [['audit', 'verify'], '--from-gerrit'],
  [['audit', 'export'], '--after <id>'],
];

/** A usage error as a user meets it: exit 2, one line on stderr, nothing on stdout, no stack trace. */
function expectOneLineUsageError(r: CliResult, line: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.split('\n')).toHaveLength(2); // one line and its newline
  expect(r.stderr).toMatch(line);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('rollgate --help, -h, help <command>', () => {
  it('shows the commands, the exit codes and the configuration note on --help, -h and help, exit 0', async () => {
    const [long, short, help] = await Promise.all([runCli(['--help']), runCli(['-h']), runCli(['help'])]);
    for (const r of [long, short, help]) {
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Usage: rollgate \[options\] \[command\]\n/);
      for (const command of ['serve', 'migrate', 'policy', 'explain [options] <change>', 'replay [options] <events.jsonl>', 'audit', 'help [command]']) expect(r.stdout).toContain(`  ${command} `);
      expect(r.stdout).toContain('Exit codes: 0 done');
      expect(r.stdout).toContain('docs/configuration.md');
    }
    expect(short.stdout).toBe(long.stdout);
    expect(help.stdout).toBe(long.stdout);
  });

  it.each(COMMANDS)('rollgate %j --help, -h and help: its usage on stdout, exit 0, nothing run', async (command, shows) => {
    const [long, short, help] = await Promise.all([runCli([...command, '--help']), runCli([...command, '-h']), runCli(['help', ...command])]);
    for (const r of [long, short, help]) {
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^Usage: rollgate ${command.join(' ')} `));
      expect(r.stdout).toContain(shows);
    }
    expect(short.stdout).toBe(long.stdout);
    expect(help.stdout).toBe(long.stdout);
  });

  it('prints the version from package.json on --version and -V', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const r of await Promise.all([runCli(['--version']), runCli(['-V'])])) expect(r).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('shows the help on stderr and exits 2 when a command is missing', async () => {
    const [none, policy] = await Promise.all([runCli([]), runCli(['policy'])]);
    expect(none).toMatchObject({ code: 2, stdout: '' });
    expect(none.stderr).toMatch(/^Usage: rollgate \[options\] \[command\]\n/);
    expect(policy).toMatchObject({ code: 2, stdout: '' });
    expect(policy.stderr).toMatch(/^Usage: rollgate policy \[options\] \[command\]\n/);
  });
});

describe('rollgate: a wrong command line', () => {
  it('names an unknown command and the commands there are, on one line, exit 2', async () => {
    const [top, sub, help] = await Promise.all([runCli(['deploy-everything']), runCli(['policy', 'frob']), runCli(['help', 'deploy-everything'])]);
    expectOneLineUsageError(top, /^rollgate: unknown command: deploy-everything; the commands are serve, migrate, policy check \[dir\], policy test \[dir\], explain <change>, replay <events.jsonl>, audit verify, audit export \(see rollgate --help\)\n$/);
    expectOneLineUsageError(sub, /^rollgate policy: unknown command: frob; the commands are policy check \[dir\], policy test \[dir\] \(see rollgate policy --help\)\n$/);
    expect(help).toEqual(top);
  });

  it('names an unknown option, with a suggestion when one is close, exit 2', async () => {
    const [typo, unknown] = await Promise.all([runCli(['policy', 'check', '--jsn', 'policies']), runCli(['audit', 'verify', '--bogus'])]);
    expectOneLineUsageError(typo, /^rollgate policy check: unknown option '--jsn' \(Did you mean --json\?\) \(see rollgate policy check --help\)\n$/);
    expectOneLineUsageError(unknown, /^rollgate audit verify: unknown option '--bogus' \(see rollgate audit verify --help\)\n$/);
  });

  it('says which argument is missing or too many, exit 2', async () => {
    const [missing, extra, noValue] = await Promise.all([runCli(['replay']), runCli(['audit', 'verify', 'now']), runCli(['explain', '601', '--project'])]);
    expectOneLineUsageError(missing, /^rollgate replay: missing required argument 'events.jsonl' \(see rollgate replay --help\)\n$/);
    expectOneLineUsageError(extra, /^rollgate audit verify: too many arguments for 'verify'\. Expected 0 arguments but got 1\. \(see rollgate audit verify --help\)\n$/);
    expectOneLineUsageError(noValue, /^rollgate explain: option '--project <project>' argument missing \(see rollgate explain --help\)\n$/);
  });

  it("reports a command's own check of its arguments the same way", async () => {
    const [change, head] = await Promise.all([runCli(['explain', 'abc']), runCli(['audit', 'verify', '--head', 'abc'], { ROLLGATE_DATA_DIR: 'memory://' })]);
    expectOneLineUsageError(change, /^rollgate explain: give one change number: .* \(see rollgate explain --help\)\n$/);
    expectOneLineUsageError(head, /^rollgate audit verify: --head must be ID:HASH .* \(see rollgate audit verify --help\)\n$/);
  });

  it('prints an expected failure as its message, exit 1, no stack', async () => {
    const r = await runCli(['replay', 'no-such-file.jsonl', '--dry-run', '--policies', 'policies', '--groups', 'test/fixtures/replay/groups.yaml']);
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: 'no-such-file.jsonl: cannot read: ENOENT\n' });
  });
});
