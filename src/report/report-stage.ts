import { PollLoop } from '../poll-loop.js';
import { Reporter, type ReporterDeps } from './reporter.js';

/**
 * The report stage as the service runs it: one loop over the outbox, woken when a message is
 * queued and otherwise looking every `idleMs`. `start`, `wake` and `stop` are the loop's.
 */
export function reportStage(deps: ReporterDeps, options: { readonly idleMs: number }): PollLoop {
  const reporter = new Reporter(deps);
  return new PollLoop('report', () => reporter.sendNext(), { idleMs: options.idleMs, logger: deps.logger });
}
