import { RollgateError } from '../errors.js';

/**
 * A command line that does not fit the command (beyond what commander checks itself, e.g. a
 * malformed `--head`); main prints its message on one line with where to get help, and exits 2.
 */
export class UsageError extends RollgateError {
  override readonly code = 'usage';
}
