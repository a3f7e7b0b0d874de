/**
 * The few cookie rules tests need when they play a browser with fetch: keep what `Set-Cookie`
 * sets, drop what it expires, and send the rest back. Paths and domains are ignored (every test
 * server is its own loopback origin, one jar per origin).
 */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  /** Stores the cookies a response sets. */
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((p) => p.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      const expired = attributes.some((a) => /^max-age=(0|-\d+)$/i.test(a) || (/^expires=/i.test(a) && Date.parse(a.slice(8)) <= Date.now()));
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.#cookies.get(name);
  }

  /** `{ cookie: 'a=1; b=2' }`, or `{}` when the jar is empty, to spread into fetch headers. */
  header(): { cookie?: string } {
    return this.#cookies.size === 0 ? {} : { cookie: [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  }
}
