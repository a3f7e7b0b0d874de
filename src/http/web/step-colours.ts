/**
 * The badge colours of the stylesheet (assets.ts), for SVG drawings: SVG presentation attributes
 * carry them, because the page's CSP allows no inline style and the stylesheet styles HTML badges.
 */
export interface StatusColours {
  readonly fill: string;
  readonly ink: string;
}

const OK = { fill: '#dcf2e2', ink: '#1f7a3a' };
const BAD = { fill: '#fbe1df', ink: '#b3261e' };
const WAIT = { fill: '#fdf0d2', ink: '#8a5a00' };
const RUN = { fill: '#dde8fa', ink: '#1a5fb4' };
const NOT_RUN = { fill: '#eef0f3', ink: '#5b6476' };
const OTHER = { fill: '#e4e7ec', ink: '#1d2330' };

const BY_STATUS: Readonly<Record<string, StatusColours>> = {
  succeeded: OK,
  failed: BAD,
  waiting: WAIT,
  running: RUN,
  not_run: NOT_RUN,
  skipped: NOT_RUN,
  cancelled: NOT_RUN,
};

export function statusColours(status: string): StatusColours {
  return BY_STATUS[status] ?? OTHER;
}
