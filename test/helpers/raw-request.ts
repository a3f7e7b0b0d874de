import { request } from 'node:http';

/**
 * One HTTP request whose path is sent exactly as given (fetch would resolve `..`, `%2e` and
 * doubled slashes first), for tests of how rollgate routes unusual paths. Loopback only.
 */
export function rawRequest(baseUrl: string, method: string, path: string, o: { readonly headers?: Readonly<Record<string, string>>; readonly body?: string } = {}): Promise<{ readonly status: number; readonly body: string; readonly headers: Readonly<Record<string, string | string[] | undefined>> }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers: { ...o.headers, ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
