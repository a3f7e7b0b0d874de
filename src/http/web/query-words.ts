/**
 * Reads a page's query string field by field and says what is wrong in words a person can act
 * on (the API's zod parser answers in a program's terms: "expected number, received NaN"). Blank
 * fields mean no filter, since a GET form sends its empty fields.
 */
export class QueryWords {
  readonly problems: string[] = [];
  readonly #query: Readonly<Record<string, unknown>>;

  constructor(query: Readonly<Record<string, unknown>>) {
    this.#query = query;
  }

  text(name: string): string | undefined {
    const v = this.#query[name];
    if (Array.isArray(v)) {
      this.problems.push(`${name}: give one value, not ${v.length}.`);
      return undefined;
    }
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  }

  /** A whole number from `min` to `max`; `what` completes "“x” is not …". */
  whole(name: string, what: string, o: { readonly min?: number; readonly max?: number } = {}): number | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < (o.min ?? 1) || n > (o.max ?? Number.MAX_SAFE_INTEGER)) {
      this.problems.push(`${name}: “${v}” is not ${what}.`);
      return undefined;
    }
    return n;
  }

  /** One of `values`; `what` names them ("a rollout status"). */
  choice<T extends string>(name: string, values: readonly T[], what: string): T | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    if ((values as readonly string[]).includes(v)) return v as T;
    this.problems.push(`${name}: “${v}” is not ${what}; choose one of ${values.join(', ')}.`);
    return undefined;
  }
}
