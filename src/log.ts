import { pino, type Logger as PinoLogger } from 'pino';

/** Structured JSON logger used everywhere; one line per record on stdout. */
export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug' | 'child'>;

/**
 * Field names whose values are secrets. Pino replaces them wherever they appear in a record,
 * so a config object or an error carrying credentials can be logged without leaking them.
 */
const REDACTED_PATHS = [
  'password',
  'httpPassword',
  'privateKey',
  'authorization',
  '*.password',
  '*.httpPassword',
  '*.privateKey',
  '*.authorization',
  '*.headers.authorization',
];

export function createLogger(level: string = 'info'): Logger {
  return pino({ level, base: { name: 'rollgate' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } });
}

/** A logger that drops everything: for tests and commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
