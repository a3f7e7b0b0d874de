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

/**
 * How a record's time and level are written: `pino` is pino's own (epoch milliseconds, level
 * numbers), `iso` is what most log pipelines expect (`"time":"2026-…Z"`, `"level":"info"`).
 */
export const LOG_FORMATS = ['pino', 'iso'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * `LOG_FORMAT` as the environment has it, for callers that pass no format; loadConfig has already
 * refused a value that is not one of LOG_FORMATS by then.
 */
function logFormatFromEnvironment(): LogFormat {
  return process.env.LOG_FORMAT === 'iso' ? 'iso' : 'pino';
}

export function createLogger(level: string = 'info', format: LogFormat = logFormatFromEnvironment()): Logger {
  const isoFields = format === 'iso' ? { timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label: string) => ({ level: label }) } } : {};
  return pino({ level, base: { name: 'rollgate' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, ...isoFields });
}

/** A logger that drops everything: for tests and commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
