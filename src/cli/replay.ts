import { runReplay, type ReplayOptions } from '../replay/run-replay.js';

/**
 * `rollgate replay <events.jsonl> [--dry-run] [--policies DIR] [--groups FILE] [--progress]`:
 * decides recorded stream events exactly as `serve` would have when they happened, and (without
 * `--dry-run`) runs the allowed rollouts. The replay itself is in src/replay/.
 */
export function replayCommand(file: string, options: Omit<ReplayOptions, 'progress'> & { readonly progress: boolean }): Promise<number> {
  // progress goes to a person watching: on a terminal, or when asked for (stderr is otherwise kept for problems)
  return runReplay(file, { ...options, progress: options.progress || process.stderr.isTTY === true });
}
