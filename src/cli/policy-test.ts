import { loadConfig } from '../config.js';
import { loadPolicy } from '../load-policy.js';
import { runPolicyTests } from '../policy-tests.js';
import { parseCommandArgs, UsageError } from './cli-args.js';

/** `rollgate policy test [dir]`: runs the policy's own tests, `<dir>/tests/*.yaml` (see src/policy-tests.ts), like `opa test`. */
export async function policyTestCommand(args: readonly string[]): Promise<number> {
  const { positionals } = parseCommandArgs('policy test', args, {});
  if (positionals.length > 1) throw new UsageError('rollgate policy test: give at most one policy folder: rollgate policy test [dir]');
  const dir = positionals[0] ?? loadConfig().policyDir;
  const run = runPolicyTests(dir, loadPolicy(dir));
  if (run.files === 0) {
    for (const p of run.problems) process.stderr.write(`${p}\n`);
    return 1;
  }
  for (const p of run.problems) process.stderr.write(`${p}\n`);
  let passed = 0;
  let failed = 0;
  for (const c of run.cases) {
    const label = `${c.file}: ${c.name}`;
    if (c.differences.length === 0) {
      passed++;
      process.stdout.write(`PASS ${label}\n`);
    } else {
      failed++;
      process.stdout.write(`FAIL ${label} (cases[${c.index}])\n${c.differences.map((d) => `  ${d}\n`).join('')}`);
    }
  }
  const broken = run.broken;
  process.stdout.write(`${passed} passed, ${failed} failed${broken > 0 ? `, ${broken} file${broken > 1 ? 's' : ''} unreadable` : ''} (${run.files} file${run.files > 1 ? 's' : ''})\n`);
  return failed > 0 || broken > 0 ? 1 : 0;
}
