import cron from 'node-cron';

/**
 * Change windows: cron expressions (5 fields, minute precision) read in a time zone. A moment is
 * inside a window when the expression matches its minute there, so `* 0-23 * * 6,0` in UTC is
 * "all of Saturday and Sunday, UTC".
 */
export interface WindowSpec {
  readonly cron: string;
  readonly tz: string;
  readonly reason: string;
}

export interface WindowsSpec {
  readonly deny: readonly WindowSpec[];
  readonly allow: readonly WindowSpec[];
}

/** Why a moment is closed for rollouts, or undefined when it is open. Deny wins over allow. */
export function closedWindow(windows: WindowsSpec | undefined, at: Date): { readonly reason: string; readonly kind: 'deny' | 'outside-allow' } | undefined {
  if (!windows) return undefined;
  const deny = windows.deny.find((w) => cronMatches(w.cron, w.tz, at));
  if (deny) return { kind: 'deny', reason: deny.reason };
  if (windows.allow.length > 0 && !windows.allow.some((w) => cronMatches(w.cron, w.tz, at))) {
    return { kind: 'outside-allow', reason: `outside the allowed windows (${windows.allow.map((w) => w.reason).join('; ')})` };
  }
  return undefined;
}

/** How far ahead `windowOpensAt` looks: a freeze longer than this is "not known to open". */
const OPENING_HORIZON_MINUTES = 8 * 24 * 60;
const openingCache = new Map<string, Date | null>();

/**
 * The first minute after `at` when the windows are open again, for a hold message; undefined
 * when they stay closed for the next eight days. Windows are minute-precise, so this steps by
 * minutes; answers are remembered per windows and minute, as a hold is explained several times.
 */
export function windowOpensAt(windows: WindowsSpec | undefined, at: Date): Date | undefined {
  if (!windows) return undefined;
  const start = Math.floor(at.getTime() / 60_000) * 60_000;
  const key = `${JSON.stringify(windows)}@${start}`;
  let found = openingCache.get(key);
  if (found === undefined) {
    found = null;
    for (let m = 1; m <= OPENING_HORIZON_MINUTES; m++) {
      const t = new Date(start + m * 60_000);
      if (!closedWindow(windows, t)) {
        found = t;
        break;
      }
    }
    if (openingCache.size > 1000) openingCache.clear();
    openingCache.set(key, found);
  }
  return found ?? undefined;
}

/** Problems with a cron expression or time zone, for `rollgate policy check`; empty when valid. */
export function windowProblems(w: { cron: string; tz: string }): string[] {
  const problems: string[] = [];
  const fields = w.cron.trim().split(/\s+/);
  if (fields.length !== 5) problems.push(`cron "${w.cron}" must have 5 fields (minute hour day-of-month month day-of-week)`);
  else {
    const detail = cron.validateDetailed(w.cron);
    if (!detail.valid) problems.push(`cron "${w.cron}": ${detail.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
  }
  if (!isTimeZone(w.tz)) problems.push(`tz "${w.tz}" is not a known time zone (use an IANA name such as UTC or Europe/Berlin)`);
  return problems;
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const parsedCache = new Map<string, ReturnType<typeof cron.parse>>();

/** Whether the 5-field expression matches the minute of `at` in time zone `tz` (cron's day-of-month OR day-of-week rule). */
export function cronMatches(expression: string, tz: string, at: Date): boolean {
  let fields = parsedCache.get(expression);
  if (!fields) {
    fields = cron.parse(expression);
    parsedCache.set(expression, fields);
  }
  const t = partsIn(at, tz);
  const dom = fields.dayOfMonth.filter((d): d is number => typeof d === 'number');
  const dow = fields.dayOfWeek.filter((d): d is number => typeof d === 'number').map((d) => d % 7);
  const domAll = dom.length >= 31;
  const dowAll = dow.length >= 7 || new Set(dow).size >= 7;
  const dayOk = domAll || dowAll ? dom.includes(t.day) && dow.includes(t.weekday) : dom.includes(t.day) || dow.includes(t.weekday);
  return fields.minute.includes(t.minute) && fields.hour.includes(t.hour) && fields.month.includes(t.month) && dayOk;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function partsIn(at: Date, tz: string): { minute: number; hour: number; day: number; month: number; weekday: number } {
  let format = formatters.get(tz);
  if (!format) formatters.set(tz, (format = formatter(tz)));
  const parts = format.formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const weekdays = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  return { minute: Number(get('minute')), hour: Number(get('hour')), day: Number(get('day')), month: Number(get('month')), weekday: weekdays.indexOf(get('weekday')) };
}

function formatter(tz: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    weekday: 'short',
  });
}
