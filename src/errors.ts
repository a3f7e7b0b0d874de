/**
 * The few error types rollgate raises on purpose. Each has a stable `code`, an HTTP `status`
 * and `expose` (whether the message is safe to show a client), in the manner of Koa's http-errors.
 */
export class RollgateError extends Error {
  readonly code: string = 'internal';
  readonly status: number = 500;
  readonly expose: boolean = false;
}

/** A setting is missing or malformed; startup stops with this message. */
export class ConfigError extends RollgateError {
  override readonly code = 'config';
}

/** A policy or workflow file is invalid; `problems` are `file: path: problem` lines. */
export class PolicyConfigError extends RollgateError {
  override readonly code = 'policy';
  constructor(readonly problems: readonly string[]) {
    super(`invalid policy:\n${problems.join('\n')}`);
  }
}

/** Something the client sent is wrong. */
export class BadRequestError extends RollgateError {
  override readonly code = 'bad_request';
  override readonly status = 400;
  override readonly expose = true;
}

/** The request does not say who sends it, or says it wrongly. */
export class UnauthorizedError extends RollgateError {
  override readonly code = 'unauthorized';
  override readonly status = 401;
  override readonly expose = true;
}

/** The sender is known but may not do this; the message names what it would need. */
export class ForbiddenError extends RollgateError {
  override readonly code = 'forbidden';
  override readonly status = 403;
  override readonly expose = true;
}

/** There is nothing to do in the state the thing is in (a rollout that is not held, not waiting). */
export class ConflictError extends RollgateError {
  override readonly code = 'conflict';
  override readonly status = 409;
  override readonly expose = true;
}

/** A feature this request needs is not configured or its backend is down; the message says which. */
export class UnavailableError extends RollgateError {
  override readonly code = 'unavailable';
  override readonly status = 503;
  override readonly expose = true;
}

export class NotFoundError extends RollgateError {
  override readonly code = 'not_found';
  override readonly status = 404;
  override readonly expose = true;
}

/** Gerrit did not answer as expected; `retryable` says whether trying again may help. */
export class GerritError extends RollgateError {
  override readonly code = 'gerrit';
  override readonly status = 502;
  constructor(
    message: string,
    readonly httpStatus: number | undefined,
    readonly retryable: boolean,
    /** How long Gerrit asked to wait before trying again (`Retry-After` on a 429 or 503). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * Gerrit answered, but its REST view does not show the change as merged (yet): its index can lag
 * its events. Unlike Gerrit being unreachable, this is given up on after a bounded number of tries.
 */
export class NotMergedYetError extends GerritError {
  constructor(message: string) {
    super(message, 200, true);
  }
}

/** The message of a caught value, which JavaScript lets be anything, not only an Error. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
