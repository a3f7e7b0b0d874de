import { PollLoop } from '../poll-loop.js';
import type { DecideDeps } from './decide-deps.js';
import { EventProcessor, type EventRetry } from './event-processor.js';

/**
 * The decide stage as the service runs it: one loop over the stored events, woken when the
 * intake stores one and otherwise looking every `idleMs`. `start`, `wake` and `stop` are the loop's.
 */
export function decideStage(deps: DecideDeps, options: { readonly idleMs: number; readonly retry?: EventRetry | undefined }): PollLoop {
  const processor = new EventProcessor(deps, options.retry);
  return new PollLoop('decide', () => processor.processNext(), { idleMs: options.idleMs, logger: deps.logger });
}
