import { writeFileSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { PolicyConfigError, RollgateError } from '../errors.js';
import { loadPolicy } from '../load-policy.js';
import { runPolicyTests } from '../policy-tests.js';
import { junitXml, type JunitCase } from './junit.js';

/** `rollgate policy test --json`: one object on stdout, whatever the outcome. */
export interface PolicyTestJson {
  /** Every case passed and every file could be read (the exit code is 0). */
  readonly ok: boolean;
  readonly dir: string;
  /** Test files found in `<dir>/tests`. */
  readonly files: number;
  readonly passed: number;
  readonly failed: number;
  /** Test files that could not be read; their problems are in `problems`. */
  readonly broken: number;
  /** What kept cases from running: an invalid policy, a missing tests folder, an unreadable file. */
  readonly problems: readonly string[];
  readonly cases: ReadonlyArray<{
    readonly file: string;
    readonly name: string;
    /** Its place in the file's `cases` list, from 0. */
    readonly index: number;
    readonly passed: boolean;
    /** How the result differs from what the case expects; empty when it passed. */
    readonly differences: readonly string[];
  }>;
}

/** The JUnit file cannot be written: said in words, exit 1. */
class JunitWriteError extends RollgateError {
  override readonly code = 'junit';
}

/**
 * `rollgate policy test [dir] [--json] [--junit FILE]`: runs the policy's own tests,
 * `<dir>/tests/*.yaml` (see src/policy-tests.ts), like `opa test`.
 */
export function policyTestCommand(dir: string | undefined, options: { readonly json: boolean; readonly junit?: string | undefined }): number {
  const policyDir = dir ?? loadConfig().policyDir;
  const { report, invalid } = testPolicy(policyDir);
  if (options.junit !== undefined) writeJunit(options.junit, report);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return report.ok ? 0 : 1;
  }
  if (invalid) throw invalid; // main prints its problems, exit 1
  for (const p of report.problems) process.stderr.write(`${p}\n`);
  if (report.files === 0) return 1;
  for (const c of report.cases) {
    const label = `${c.file}: ${c.name}`;
    if (c.passed) process.stdout.write(`PASS ${label}\n`);
    else process.stdout.write(`FAIL ${label} (cases[${c.index}])\n${c.differences.map((d) => `  ${d}\n`).join('')}`);
  }
  const { passed, failed, broken, files } = report;
  process.stdout.write(`${passed} passed, ${failed} failed${broken > 0 ? `, ${broken} file${broken > 1 ? 's' : ''} unreadable` : ''} (${files} file${files > 1 ? 's' : ''})\n`);
  return report.ok ? 0 : 1;
}

function testPolicy(dir: string): { report: PolicyTestJson; invalid?: PolicyConfigError } {
  let policy;
  try {
    policy = loadPolicy(dir);
  } catch (err) {
    if (!(err instanceof PolicyConfigError)) throw err;
    return { report: { ok: false, dir, files: 0, passed: 0, failed: 0, broken: 0, problems: err.problems, cases: [] }, invalid: err };
  }
  const run = runPolicyTests(dir, policy);
  const cases = run.cases.map((c) => ({ file: c.file, name: c.name, index: c.index, passed: c.differences.length === 0, differences: c.differences }));
  const failed = cases.filter((c) => !c.passed).length;
  return {
    report: {
      ok: run.files > 0 && failed === 0 && run.broken === 0,
      dir,
      files: run.files,
      passed: cases.length - failed,
      failed,
      broken: run.broken,
      problems: run.problems,
      cases,
    },
  };
}

/** One testcase per case, a suite per test file; each problem is an errored testcase, so CI shows it too. */
function writeJunit(file: string, report: PolicyTestJson): void {
  const cases: JunitCase[] = [
    ...report.problems.map((p) => ({ suite: `${report.dir}: problems`, name: p, error: { message: p } })),
    ...report.cases.map((c) => ({
      suite: c.file,
      name: c.name,
      ...(c.passed ? {} : { failure: { message: c.differences[0] ?? 'failed', details: c.differences.join('\n') } }),
    })),
  ];
  try {
    writeFileSync(file, junitXml(`rollgate policy test ${report.dir}`, cases));
  } catch (err) {
    throw new JunitWriteError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
