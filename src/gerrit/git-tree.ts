import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isCommitSha } from './commit-sha.js';
import type { GerritRestConfig } from './gerrit-rest-client.js';

const run = promisify(execFile);

/** A project's files at one commit, checked out in a folder that lives only while `use` runs. */
export interface GitTree {
  readonly dir: string;
  /** The commit the folder holds (40 hex). */
  readonly commit: string;
}

/**
 * Fetches `ref` (a branch, `refs/changes/…`, or a commit) of a Gerrit project over Git HTTP with
 * rollgate's REST credentials, checks its tree out in a new temporary folder (one commit, no
 * history), runs `use` on it and removes the folder. The git program gets argv arrays and its
 * credentials in its environment (an HTTP header through GIT_CONFIG_*), never on its command line,
 * where other users could read them; no user or system git configuration is read.
 */
export async function withGitTree<T>(gerrit: GerritRestConfig, project: string, ref: string, use: (tree: GitTree) => T | Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rollgate-git-'));
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.extraHeader',
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`${gerrit.user}:${gerrit.password}`).toString('base64')}`,
  };
  const git = (args: readonly string[]) => run('git', ['-C', path.join(dir, 'tree'), ...args], { env, timeout: 60_000, maxBuffer: 1024 * 1024 });
  try {
    await run('git', ['init', '-q', path.join(dir, 'tree')], { env, timeout: 60_000 });
    const url = `${gerrit.url.replace(/\/+$/, '')}/a/${project.split('/').map(encodeURIComponent).join('/')}`;
    try {
      await git(['fetch', '-q', '--depth', '1', url, ref]);
    } catch (err) {
      throw new Error(`cannot fetch ${ref} of ${project} over Git: ${gitProblem(err)}`);
    }
    const commit = (await git(['rev-parse', 'FETCH_HEAD'])).stdout.trim();
    // the commit names the policy in use and goes into the database: nothing but a sha
    if (!isCommitSha(commit)) throw new Error(`fetching ${ref} of ${project} gave no commit sha (${JSON.stringify(commit.slice(0, 80))})`);
    await git(['checkout', '-q', '--detach', 'FETCH_HEAD']);
    return await use({ dir: path.join(dir, 'tree'), commit });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What git said went wrong, in one line (its stderr; it never holds the credentials, which are in a header). */
function gitProblem(err: unknown): string {
  const stderr = (err as { stderr?: unknown }).stderr;
  const text = typeof stderr === 'string' && stderr.trim() !== '' ? stderr : err instanceof Error ? err.message : String(err);
  return text.trim().split('\n').filter(Boolean).join('; ');
}
