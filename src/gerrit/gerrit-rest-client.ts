import { z } from 'zod';
import { GerritError } from '../errors.js';
import { COMMIT_SHA } from './commit-sha.js';
import type { ChangeMessage, GerritAccount, GerritChange, GerritClient, GerritCommit, GerritGroup, GerritVote, MergedChangeRef, ReviewInput } from './gerrit-client.js';

const PAGE_SIZE = 100;

/** Gerrit prefixes JSON replies with this line to defeat cross-site script inclusion. */
const XSSI_PREFIX = ")]}'";

const AccountInfoSchema = z.looseObject({
  _account_id: z.number().int(),
  username: z.string().optional(),
  name: z.string().optional(),
  email: z.string().optional(),
});

const ApprovalInfoSchema = AccountInfoSchema.extend({ value: z.number().int().optional() });

const ChangeInfoSchema = z.looseObject({
  project: z.string(),
  branch: z.string(),
  _number: z.number().int(),
  subject: z.string(),
  status: z.enum(['NEW', 'MERGED', 'ABANDONED']),
  owner: AccountInfoSchema,
  // what a rollout runs: a full commit sha, nothing else
  current_revision: z.string().regex(COMMIT_SHA, 'must be a 40-character commit sha'),
  submitted: z.lazy(() => gerritTimestamp).optional(),
  labels: z.record(z.string(), z.looseObject({ all: z.array(ApprovalInfoSchema).optional() })).default({}),
  revisions: z.record(
    z.string(),
    z.looseObject({
      _number: z.number().int(),
      uploader: AccountInfoSchema.optional(),
      commit: z.looseObject({ message: z.string() }).optional(),
      files: z.record(z.string(), z.unknown()).optional(),
    }),
  ),
});

/** Gerrit's timestamps: UTC, `2026-11-23 08:01:02.000000000`. */
const gerritTimestamp = z.string().regex(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/).transform((s) => new Date(`${s.slice(0, 19).replace(' ', 'T')}Z`));

const MergedQuerySchema = z.array(
  z.looseObject({
    project: z.string(),
    branch: z.string(),
    _number: z.number().int(),
    change_id: z.string(),
    subject: z.string(),
    status: z.string(),
    current_revision: z.string(),
    submitted: gerritTimestamp.optional(),
    updated: gerritTimestamp,
    revisions: z.record(z.string(), z.looseObject({ _number: z.number().int() })),
    _more_changes: z.boolean().optional(),
  }),
);

const ChangeListSchema = z.array(z.looseObject({ project: z.string(), _number: z.number().int() }));

const ChangeMessagesSchema = z.array(
  z.looseObject({
    id: z.string().min(1),
    message: z.string().default(''),
    date: gerritTimestamp,
    author: z.looseObject({ _account_id: z.number().int() }).optional(),
  }),
);

const CommitInfoSchema = z.looseObject({ commit: z.string().regex(COMMIT_SHA).optional(), parents: z.array(z.looseObject({ commit: z.string() })).default([]) });

const IncludedInSchema = z.looseObject({ branches: z.array(z.string()).default([]) });

const GroupInfoListSchema = z.array(z.looseObject({ id: z.string(), name: z.string() }));

type AccountInfo = z.infer<typeof AccountInfoSchema>;

/** Where Gerrit's REST API is and the account rollgate uses there (read from the settings by config.ts). */
export interface GerritRestConfig {
  readonly url: string;
  readonly user: string;
  readonly password: string;
}

/** Talks to Gerrit's authenticated REST API (`/a/...`) with HTTP Basic and the HTTP password. */
export class GerritRestClient implements GerritClient {
  readonly #config: GerritRestConfig;
  readonly #timeoutMs: number;

  constructor(config: GerritRestConfig, options: { timeoutMs?: number } = {}) {
    this.#config = config;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  async getChange(project: string, changeNumber: number): Promise<GerritChange> {
    const path = `/changes/${changeId(project, changeNumber)}?o=LABELS&o=DETAILED_ACCOUNTS&o=CURRENT_REVISION&o=CURRENT_COMMIT&o=CURRENT_FILES`;
    const info = parseReply(ChangeInfoSchema, await this.#request('GET', path), `GET ${path}`);
    const revision = info.revisions[info.current_revision];
    if (!revision) throw new GerritError(`GET ${path}: current revision ${info.current_revision} missing from "revisions"`, 200, false);
    const votes: Record<string, GerritVote[]> = {};
    for (const [label, detail] of Object.entries(info.labels)) {
      votes[label] = (detail.all ?? []).filter((a) => (a.value ?? 0) !== 0).map((a) => ({ account: toAccount(a), value: a.value ?? 0 }));
    }
    return {
      project: info.project,
      branch: info.branch,
      number: info._number,
      subject: info.subject,
      status: info.status,
      owner: toAccount(info.owner),
      currentRevision: info.current_revision,
      currentPatchSet: revision._number,
      uploader: revision.uploader ? toAccount(revision.uploader) : undefined,
      commitMessage: revision.commit?.message ?? '',
      // magic entries such as /COMMIT_MSG are not files of the change
      files: Object.keys(revision.files ?? {}).filter((f) => !f.startsWith('/')),
      votes,
      submitted: info.submitted,
    };
  }

  async findChangeProjects(changeNumber: number): Promise<readonly string[]> {
    const path = `/changes/?q=${encodeURIComponent(`change:${changeNumber}`)}&n=10`;
    const found = parseReply(ChangeListSchema, await this.#request('GET', path), `GET ${path}`);
    return [...new Set(found.filter((c) => c._number === changeNumber).map((c) => c.project))];
  }

  async queryMergedSince(since: Date): Promise<readonly MergedChangeRef[]> {
    // `after:` (updated after) is a superset of merged-after and exists in every Gerrit version;
    // the submitted time then filters exactly
    const stamp = since.toISOString().slice(0, 19).replace('T', ' ');
    const query = encodeURIComponent(`status:merged after:"${stamp} +0000"`);
    const found: MergedChangeRef[] = [];
    for (let start = 0; ; ) {
      const path = `/changes/?q=${query}&o=CURRENT_REVISION&n=${PAGE_SIZE}&S=${start}`;
      const page = parseReply(MergedQuerySchema, await this.#request('GET', path), `GET ${path}`);
      for (const c of page) {
        const submitted = c.submitted ?? c.updated;
        if (c.status !== 'MERGED' || submitted < since) continue;
        found.push({
          project: c.project,
          branch: c.branch,
          number: c._number,
          changeId: c.change_id,
          subject: c.subject,
          currentRevision: c.current_revision,
          currentPatchSet: c.revisions[c.current_revision]?._number ?? 0,
          submitted,
        });
      }
      if (page.length === 0 || page.at(-1)?._more_changes !== true) return found;
      start += page.length;
    }
  }

  async getAccount(user: string): Promise<GerritAccount> {
    const path = `/accounts/${encodeURIComponent(user)}`;
    return toAccount(parseReply(AccountInfoSchema, await this.#request('GET', path), `GET ${path}`));
  }

  async getAccountGroups(accountId: number): Promise<readonly GerritGroup[]> {
    const path = `/accounts/${accountId}/groups`;
    const groups = parseReply(GroupInfoListSchema, await this.#request('GET', path), `GET ${path}`);
    return groups.map((g) => ({ id: decodeURIComponent(g.id), name: g.name }));
  }

  async getChangeMessages(project: string, changeNumber: number): Promise<readonly ChangeMessage[]> {
    const path = `/changes/${changeId(project, changeNumber)}/messages`;
    return parseReply(ChangeMessagesSchema, await this.#request('GET', path), `GET ${path}`).map((m) => ({ id: m.id, authorAccountId: m.author?._account_id, date: m.date, message: m.message }));
  }

  async getCommit(project: string, sha: string): Promise<GerritCommit | undefined> {
    if (!COMMIT_SHA.test(sha)) return undefined;
    const path = `/projects/${encodeURIComponent(project)}/commits/${sha}`;
    let text: string;
    try {
      text = await this.#request('GET', path);
    } catch (err) {
      if (err instanceof GerritError && err.httpStatus === 404) return undefined;
      throw err;
    }
    const info = parseReply(CommitInfoSchema, text, `GET ${path}`);
    return { sha, parents: info.parents.map((p) => p.commit) };
  }

  async branchesContaining(project: string, sha: string): Promise<readonly string[]> {
    if (!COMMIT_SHA.test(sha)) return [];
    const path = `/projects/${encodeURIComponent(project)}/commits/${sha}/in`;
    // Gerrit lists short names (`main`); strip a full ref in case a version does not
    return parseReply(IncludedInSchema, await this.#request('GET', path), `GET ${path}`).branches.map((b) => b.replace(/^refs\/heads\//, ''));
  }

  async postReview(project: string, changeNumber: number, revision: string, review: ReviewInput): Promise<void> {
    const path = `/changes/${changeId(project, changeNumber)}/revisions/${revision}/review`;
    await this.#request('POST', path, { message: review.message, tag: review.tag, notify: review.notify ?? 'OWNER', ...(review.labels ? { labels: review.labels } : {}) });
  }

  async #request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<string> {
    const url = `${this.#config.url}/a${path}`;
    const headers: Record<string, string> = {
      authorization: `Basic ${Buffer.from(`${this.#config.user}:${this.#config.password}`).toString('base64')}`,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/json; charset=UTF-8';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new GerritError(`${method} ${path}: Gerrit unreachable: ${(err as Error).message}`, undefined, true);
    }
    const text = await response.text();
    if (!response.ok) {
      // 5xx and 429 may pass; 4xx other than 429 will not (Gerrit said no), so they are final.
      const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
      throw new GerritError(`${method} ${path}: Gerrit answered ${response.status}: ${text.slice(0, 300).trim()}`, response.status, retryable, parseRetryAfter(response.headers.get('retry-after')));
    }
    return text;
  }
}

/** `Retry-After`: delay in seconds, or an HTTP date; undefined when absent or malformed. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function changeId(project: string, changeNumber: number): string {
  return `${encodeURIComponent(project)}~${changeNumber}`;
}

function parseReply<T>(schema: z.ZodType<T>, text: string, what: string): T {
  const json = text.startsWith(XSSI_PREFIX) ? text.slice(XSSI_PREFIX.length) : text;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new GerritError(`${what}: reply is not JSON: ${json.slice(0, 200)}`, 200, false);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(reply)'}: ${i.message}`).join('; ');
    throw new GerritError(`${what}: unexpected reply: ${problems}`, 200, false);
  }
  return parsed.data;
}

function toAccount(info: AccountInfo): GerritAccount {
  return { accountId: info._account_id, username: info.username, name: info.name, email: info.email };
}
