import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa, { type Middleware } from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditStore } from '../../src/audit/audit-store.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { errorMiddleware } from '../../src/http/error-middleware.js';
import { auditRoutes } from '../../src/http/routes/audit.js';
import type { OperatorState } from '../../src/identity/operator.js';
import { BACKENDS, openTestDatabase } from '../helpers/backends.js';

/**
 * Stands in for the login middleware (someone else's): `x-test-operator: alice=sre,auditor` puts
 * alice with those roles on ctx.state, as an OIDC session would. Without the header, nobody.
 */
const testLogin: Middleware<OperatorState> = async (ctx, next) => {
  const header = ctx.get('x-test-operator');
  if (header) {
    const [username, roles = ''] = header.split('=');
    ctx.state.operator = { account: { accountId: 1000, username }, roles: roles.split(',').filter(Boolean).map((role) => ({ role, via: 'idp:test' })), via: 'bearer' };
  }
  await next();
};

describe.each(BACKENDS)('%s: GET /api/audit', (backend) => {
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;
  let server: Server;
  let url: string;
  let readers: readonly string[] | undefined = ['auditor'];

  beforeAll(async () => {
    ({ handle, cleanup } = await openTestDatabase(backend));
    const store = new AuditStore(handle.db);
    for (let n = 1; n <= 5; n++) {
      await store.append({ kind: n % 2 === 0 ? 'step-finished' : 'decision', actor: 'rollgate', rolloutId: n <= 3 ? 1 : 2, project: 'payments/api', changeNumber: 101, summary: `fact ${n}`, data: { n } });
    }
    // the route as createApp mounts it, behind the test's login instead of OIDC
    const app = new Koa<OperatorState>();
    const router = auditRoutes({ store, readers: () => readers });
    app.use(errorMiddleware).use(testLogin).use(router.routes()).use(router.allowedMethods());
    server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/audit`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await cleanup();
  });

  const get = async (query: string, operator?: string) => {
    const res = await fetch(`${url}${query}`, { headers: operator ? { 'x-test-operator': operator } : {} });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it('answers 401 with a JSON error to a request from nobody', async () => {
    expect(await get('')).toEqual({ status: 401, body: { error: expect.stringMatching(/^log in first/), code: 'unauthorized' } });
  });

  it('answers 403 naming the roles needed to an operator without one', async () => {
    expect(await get('', 'bob=developer')).toEqual({
      status: 403,
      body: { error: 'reading the audit trail needs role auditor (audit_readers in roles.yaml); bob holds developer', code: 'forbidden' },
    });
    expect((await get('', 'carol=')).body.error).toBe('reading the audit trail needs role auditor (audit_readers in roles.yaml); carol holds no role');
  });

  it('pages through the trail for an audit reader, oldest first, with hashes', async () => {
    const first = await get('?limit=2', 'alice=sre,auditor');
    expect(first.status).toBe(200);
    expect(first.body.next).toBe(2);
    expect(first.body.entries).toEqual([
      { id: 1, at: expect.any(String), kind: 'decision', actor: 'rollgate', rolloutId: 1, project: 'payments/api', changeNumber: 101, summary: 'fact 1', data: { n: 1 }, prevHash: '0'.repeat(64), hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
      expect.objectContaining({ id: 2, kind: 'step-finished', prevHash: first.body.entries[0].hash }),
    ]);
    const rest = await get('?limit=2&after=4', 'alice=auditor');
    expect(rest.body).toMatchObject({ next: null, entries: [{ id: 5 }] });
    const filtered = await get('?kind=step-finished&rollout=1', 'alice=auditor');
    expect(filtered.body.entries.map((e: { id: number }) => e.id)).toEqual([2]);
  });

  it('refuses a malformed query with 400 naming the field', async () => {
    expect(await get('?limit=0', 'alice=auditor')).toEqual({ status: 400, body: { error: 'limit: Too small: expected number to be >=1', code: 'bad_request' } });
    const kind = await get('?kind=deploy', 'alice=auditor');
    expect(kind.status).toBe(400);
    expect(kind.body.error).toMatch(/^kind: Invalid option: expected one of "decision"\|"approval"/);
    expect((await get('?after=-1&rollout=x', 'alice=auditor')).body.error).toMatch(/^after: .*; rollout: /);
  });

  it('lets anyone holding a role read when audit_readers is not set, and still nobody without one', async () => {
    readers = undefined;
    try {
      expect((await get('?limit=1', 'bob=developer')).status).toBe(200);
      expect(await get('', 'carol=')).toEqual({ status: 403, body: { error: 'reading the audit trail needs a role from roles.yaml; carol holds none', code: 'forbidden' } });
      expect((await get('')).status).toBe(401);
    } finally {
      readers = ['auditor'];
    }
  });
});
