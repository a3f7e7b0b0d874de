import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An in-process Gerrit REST double on loopback, answering the calls rollgate makes with the JSON
 * shapes real Gerrit 3.10 returns (`)]}'` prefix, `_account_id`, labels.<L>.all[]), checking
 * HTTP Basic credentials, recording posted reviews, and failing on demand.
 *
 * Where rollgate depends on it, it behaves as test/real-gerrit showed a real Gerrit does:
 * - GET /accounts/{id}/groups leaves out, without an error, a group the caller cannot see (not
 *   visible to all; the caller, rollgate, is neither its owner nor a member nor an admin), and
 *   system groups (Registered Users, ...), which only admins get in that list;
 * - a change has `labels` only when asked with o=LABELS or o=DETAILED_LABELS, with every vote in
 *   `all` either way; the `approved`/`rejected` summaries (max and min vote) of a merged change
 *   come only with o=LABELS (an open change has them with either).
 */
export interface DoubleAccount {
  readonly _account_id: number;
  readonly username: string;
  readonly name: string;
  readonly email: string;
}

export interface DoubleChange {
  project: string;
  branch: string;
  number: number;
  subject: string;
  status: 'NEW' | 'MERGED' | 'ABANDONED';
  owner: DoubleAccount;
  uploader: DoubleAccount;
  revision: string;
  patchSet: number;
  commitMessage: string;
  files: string[];
  /** label → votes on the current patch set */
  votes: Record<string, Array<{ account: DoubleAccount; value: number }>>;
  /** When it merged, as Gerrit writes it (UTC): `2026-11-23 08:01:02.000000000`. */
  submitted?: string;
}

export interface PostedReview {
  readonly project: string;
  readonly changeNumber: number;
  readonly revision: string;
  readonly message: string;
  readonly tag: string | undefined;
  /** Votes set with the review (label → value), as the request body gave them. */
  readonly labels?: Readonly<Record<string, number>> | undefined;
  readonly user: string;
  readonly messageId: string;
  readonly date: string;
}

export interface RestGerritDouble {
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly reviews: PostedReview[];
  readonly requests: string[];
  /** `visibleToAll: false` makes a group rollgate cannot see: it is left out of the account's groups. */
  addAccount(account: DoubleAccount, groups: Array<DoubleGroup>): void;
  setChange(change: DoubleChange): void;
  /** A review comment a person left on the change, as GET /changes/{id}/messages shows it; returns the message id. */
  addMessage(change: DoubleChange, author: DoubleAccount, text: string): string;
  /**
   * A commit of the project, as GET /projects/{p}/commits/{sha} (parents) and .../in (branches)
   * show it: e.g. the merge commit a merge-always submit made. A change's own revision is known
   * without this (one parent, on its branch once merged).
   */
  addCommit(project: string, commit: DoubleCommit): void;
  /** The next `count` requests whose path starts with `pathPrefix` get `status` (with `headers`, e.g. Retry-After). */
  failNext(pathPrefix: string, status: number, count?: number, headers?: Readonly<Record<string, string>>): void;
  close(): Promise<void>;
}

export interface DoubleCommit {
  readonly sha: string;
  readonly parents: readonly string[];
  /** Short names of the branches that contain it. */
  readonly branches: readonly string[];
}

/** rollgate's own account in the double (it posts the reviews). */
export const SERVICE_ACCOUNT_ID = 1000000;

export interface DoubleGroup {
  readonly id: string;
  readonly name: string;
  /** Default true, as rollgate's setup asks for policy groups (README, gerrit-plugin-config). */
  readonly visibleToAll?: boolean;
}

const XSSI = ")]}'\n";

export async function startRestGerritDouble(options: { user?: string; password?: string } = {}): Promise<RestGerritDouble> {
  const user = options.user ?? 'rollgate';
  const password = options.password ?? 'rest-secret';
  const changes = new Map<string, DoubleChange>();
  const groups = new Map<number, DoubleGroup[]>();
  const accounts = new Map<number, DoubleAccount>();
  const messages = new Map<string, Array<{ id: string; author: { _account_id: number }; date: string; message: string }>>();
  const commits = new Map<string, DoubleCommit>();
  let messageCount = 0;
  /** Gerrit's timestamp format (UTC), for message dates. */
  const now = () => new Date().toISOString().replace('T', ' ').replace('Z', '000000');
  const reviews: PostedReview[] = [];
  const requests: string[] = [];
  const faults: Array<{ prefix: string; status: number; left: number; headers: Readonly<Record<string, string>> }> = [];

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => send(res, 500, `internal: ${String(err)}`));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const fault = faults.find((f) => url.pathname.startsWith(f.prefix) && f.left > 0);
    if (fault) {
      fault.left--;
      return send(res, fault.status, 'injected failure', fault.headers);
    }
    if (!url.pathname.startsWith('/a/')) return send(res, 404, 'Not found');
    const auth = req.headers.authorization ?? '';
    if (auth !== `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`) return send(res, 401, 'Unauthorized');

    if (url.pathname === '/a/changes/' && req.method === 'GET') {
      const byNumber = /^change:(\d+)$/.exec(url.searchParams.get('q') ?? '');
      if (byNumber) return json(res, [...changes.values()].filter((c) => c.number === Number(byNumber[1])).map((c) => ({ project: c.project, branch: c.branch, _number: c.number, change_id: `I${c.revision}`, subject: c.subject, status: c.status })));
      return json(res, queryMerged(url));
    }
    let m = /^\/a\/changes\/([^/]+)~(\d+)$/.exec(url.pathname);
    if (m && req.method === 'GET') {
      const change = changes.get(`${decodeURIComponent(m[1]!)}~${m[2]}`);
      if (!change) return send(res, 404, 'Not found');
      const options = url.searchParams.getAll('o');
      const withLabels = options.includes('LABELS') || options.includes('DETAILED_LABELS');
      const summaries = options.includes('LABELS') || change.status !== 'MERGED';
      const { labels, ...rest } = changeInfo(change, summaries);
      return json(res, withLabels ? { ...rest, labels } : rest);
    }
    m = /^\/a\/changes\/([^/]+)~(\d+)\/messages$/.exec(url.pathname);
    if (m && req.method === 'GET') {
      const key = `${decodeURIComponent(m[1]!)}~${m[2]}`;
      const change = changes.get(key);
      if (!change) return send(res, 404, 'Not found');
      // as Gerrit 3.10 answers it: id, author (its _account_id; no username unless asked), date
      const posted = reviews
        .filter((r) => `${r.project}~${r.changeNumber}` === key)
        .map((r) => ({ id: r.messageId, author: { _account_id: SERVICE_ACCOUNT_ID }, date: r.date, message: `Patch Set ${change.patchSet}:\n\n${r.message}`, tag: r.tag }));
      return json(res, [...(messages.get(key) ?? []), ...posted].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0)));
    }
    m = /^\/a\/projects\/([^/]+)\/commits\/([0-9a-f]{40})(\/in)?$/.exec(url.pathname);
    if (m && req.method === 'GET') {
      const project = decodeURIComponent(m[1]!);
      const commit = commitOf(project, m[2]!);
      if (!commit) return send(res, 404, 'Not found');
      if (m[3]) return json(res, { branches: commit.branches, tags: [] });
      return json(res, { commit: commit.sha, parents: commit.parents.map((p) => ({ commit: p, subject: 'parent' })), subject: 'commit', message: 'commit\n' });
    }
    m = /^\/a\/changes\/([^/]+)~(\d+)\/revisions\/([0-9a-f]{40})\/review$/.exec(url.pathname);
    if (m && req.method === 'POST') {
      const change = changes.get(`${decodeURIComponent(m[1]!)}~${m[2]}`);
      if (!change) return send(res, 404, 'Not found');
      const body = JSON.parse(await readBody(req)) as { message?: string; tag?: string; labels?: Record<string, number> };
      if (Buffer.byteLength(body.message ?? '') > 16 * 1024) return send(res, 400, 'message too long');
      reviews.push({ project: change.project, changeNumber: change.number, revision: m[3]!, message: body.message ?? '', tag: body.tag, ...(body.labels ? { labels: body.labels } : {}), user, messageId: `m${++messageCount}`, date: now() });
      return json(res, { labels: {} });
    }
    m = /^\/a\/accounts\/([^/]+)$/.exec(url.pathname);
    if (m && req.method === 'GET') {
      const key = decodeURIComponent(m[1]!);
      const found = [...accounts.values()].find((a) => a.username === key || a.email === key || String(a._account_id) === key);
      return found ? json(res, found) : send(res, 404, `Account '${key}' not found`);
    }
    m = /^\/a\/accounts\/(\d+)\/groups$/.exec(url.pathname);
    if (m && req.method === 'GET') {
      const list = groups.get(Number(m[1]));
      if (!list) return send(res, 404, 'Not found');
      // what the caller cannot see is simply not there
      const visible = list.filter((g) => g.visibleToAll !== false);
      return json(res, visible.map((g) => ({ id: encodeURIComponent(g.id), name: g.name, group_id: 1, owner: g.name })));
    }
    return send(res, 404, 'Not found');
  }

  /** A commit added with addCommit, or a change's own revision (on its branch once merged). */
  function commitOf(project: string, sha: string): DoubleCommit | undefined {
    const added = commits.get(`${project} ${sha}`);
    if (added) return added;
    const change = [...changes.values()].find((c) => c.project === project && c.revision === sha);
    return change ? { sha, parents: ['0'.repeat(40)], branches: change.status === 'MERGED' ? [change.branch] : [] } : undefined;
  }

  /** `q=status:merged after:"YYYY-MM-DD HH:MM:SS +0000"` with n/S paging, as Gerrit answers it. */
  function queryMerged(url: URL): unknown[] {
    const q = url.searchParams.get('q') ?? '';
    const after = /after:"([^"]+) \+0000"/.exec(q)?.[1];
    const since = after ? new Date(`${after.replace(' ', 'T')}Z`) : new Date(0);
    const all = [...changes.values()]
      .filter((c) => /status:merged/.test(q) && c.status === 'MERGED' && c.submitted && new Date(`${c.submitted.slice(0, 19).replace(' ', 'T')}Z`) >= since)
      .sort((a, b) => b.number - a.number);
    const n = Number(url.searchParams.get('n') ?? 500);
    const start = Number(url.searchParams.get('S') ?? 0);
    const page = all.slice(start, start + n).map((c) => {
      const { labels: _labels, ...info } = changeInfo(c, false);
      return { ...info, submitted: c.submitted, updated: c.submitted };
    });
    if (start + n < all.length && page.length > 0) (page[page.length - 1] as Record<string, unknown>)._more_changes = true;
    return page;
  }

  // Node closes idle keep-alive sockets after 5 s, just when fetch's pool may reuse one: the
  // request then fails as "fetch failed" (Gerrit's own idle timeout is 30 s). Tests wait
  // seconds between requests, so the double keeps them as long as a test may take.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    user,
    password,
    reviews,
    requests,
    addAccount: (account, g) => {
      accounts.set(account._account_id, account);
      groups.set(account._account_id, g);
    },
    setChange: (change) => changes.set(`${change.project}~${change.number}`, change),
    addMessage: (change, author, text) => {
      const key = `${change.project}~${change.number}`;
      const id = `m${++messageCount}`;
      messages.set(key, [...(messages.get(key) ?? []), { id, author: { _account_id: author._account_id }, date: now(), message: `Patch Set ${change.patchSet}:\n\n${text}` }]);
      return id;
    },
    addCommit: (project, commit) => commits.set(`${project} ${commit.sha}`, commit),
    failNext: (prefix, status, count = 1, headers = {}) => faults.push({ prefix, status, left: count, headers }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The ChangeInfo shape of GET /changes/{id}?o=LABELS&o=DETAILED_ACCOUNTS&o=CURRENT_REVISION&o=CURRENT_COMMIT&o=CURRENT_FILES. */
function changeInfo(c: DoubleChange, summaries: boolean): Record<string, unknown> & { labels: Record<string, unknown> } {
  const labels: Record<string, unknown> = {};
  for (const [label, votes] of Object.entries(c.votes)) {
    // Code-Review's range; a double's change has no other label configuration
    const max = summaries ? votes.find((v) => v.value === 2) : undefined;
    const min = summaries ? votes.find((v) => v.value === -2) : undefined;
    labels[label] = {
      ...(max ? { approved: max.account } : {}),
      ...(min ? { rejected: min.account } : {}),
      all: votes.map((v) => ({ ...v.account, value: v.value, date: '2026-11-23 08:00:00.000000000' })),
      values: { '-2': '', '-1': '', ' 0': '', '+1': '', '+2': '' },
    };
  }
  return {
    id: `${encodeURIComponent(c.project)}~${c.branch}~I${c.revision.slice(0, 40)}`,
    project: c.project,
    branch: c.branch,
    change_id: `I${c.revision}`,
    subject: c.subject,
    status: c.status,
    _number: c.number,
    owner: c.owner,
    labels,
    current_revision: c.revision,
    ...(c.status === 'MERGED' ? { submitted: c.submitted ?? '2026-11-23 08:01:02.000000000' } : {}),
    revisions: {
      [c.revision]: {
        kind: 'REWORK',
        _number: c.patchSet,
        uploader: c.uploader,
        ref: `refs/changes/${String(c.number % 100).padStart(2, '0')}/${c.number}/${c.patchSet}`,
        commit: { subject: c.subject, message: c.commitMessage, parents: [] },
        files: Object.fromEntries(c.files.map((f) => [f, { lines_inserted: 1, size_delta: 10, size: 10 }])),
      },
    },
  };
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(XSSI + JSON.stringify(body));
}

function send(res: ServerResponse, status: number, text: string, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
