import { html, type Html } from './html.js';

/** Small renderings shared by the pages. */

/** A time in UTC as ISO 8601 to the second (`2026-12-06T23:51:52Z`): the same for every reader. */
export function utc(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * "3 min ago", with the exact UTC time beside it (and on hover), so a screenshot or a pasted page
 * still says when.
 */
export function age(at: Date | null, now: Date): Html {
  if (at === null) return html`—`;
  const s = Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000));
  const text = s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : s < 86_400 ? `${Math.floor(s / 3600)} h ago` : `${Math.floor(s / 86_400)} d ago`;
  return html`<span class="when"><time datetime="${at.toISOString()}" title="${at.toISOString()}">${text}</time> <span class="utc">${utc(at)}</span></span>`;
}

/** A Gerrit account as rollgate recorded it: the username, else the name or email. */
export function person(p: { readonly username?: string | undefined; readonly name?: string | undefined; readonly email?: string | undefined } | undefined): string {
  if (!p) return '—';
  const main = p.username ?? p.email ?? p.name ?? '?';
  return p.name && p.name !== main ? `${main} (${p.name})` : main;
}

export function duration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A status word with a class per status, so colour is in the stylesheet. */
export function badge(status: string): Html {
  return html`<span class="badge status-${status}">${status.replace('_', ' ')}</span>`;
}

/** The change as text, linked to Gerrit's change page when Gerrit's URL is known. */
export function changeLink(gerritUrl: string | undefined, project: string, changeNumber: number): Html {
  const text = `${project} ${changeNumber}`;
  if (gerritUrl === undefined) return html`${text}`;
  return html`<a href="${gerritUrl}/c/${encodeURIComponent(project).replaceAll('%2F', '/')}/+/${changeNumber}">${text}</a>`;
}

export function shortRevision(revision: string): Html {
  return html`<code title="${revision}">${revision.slice(0, 10)}</code>`;
}
