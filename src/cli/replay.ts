import { runReplay } from '../replay/run-replay.js';
import { parseCommandArgs, UsageError } from './cli-args.js';

/**
 * `rollgate replay <events.jsonl> [--dry-run] [--policies DIR] [--groups FILE]`: decides recorded
 * stream events exactly as `serve` would have when they happened, and (without `--dry-run`) runs
 * the allowed rollouts. The replay itself is in src/replay/; this reads the command line.
 */
export async function replayCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('replay', args, {
    'dry-run': { type: 'boolean', default: false },
    policies: { type: 'string' },
    groups: { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('rollgate replay: give one events file: rollgate replay <events.jsonl> [--dry-run] [--policies DIR] [--groups FILE]');
  return runReplay(positionals[0]!, { dryRun: values['dry-run'] === true, policies: values.policies, groups: values.groups });
}
