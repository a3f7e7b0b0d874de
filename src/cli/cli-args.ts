import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RollgateError } from '../errors.js';

/** A command line that does not fit the command; main prints it with the usage and exits 2. */
export class UsageError extends RollgateError {
  override readonly code = 'usage';
}

/** `node:util` parseArgs, with its errors turned into a `UsageError` that names the command. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(command: string, args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`rollgate ${command}: ${(err as Error).message}`);
  }
}
