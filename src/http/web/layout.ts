import { displayName } from '../../policy/decide.js';
import type { Operator } from '../../identity/operator.js';
import { html, type Html } from './html.js';

/** Who is looking at a page, and whether they could log in. */
export interface Viewer {
  readonly operator: Operator | undefined;
  /** Whether OIDC login is on; then every page but the assets needs a logged-in operator. */
  readonly loginConfigured: boolean;
  /** The page's path and query, where login sends the browser back to. */
  readonly returnTo: string;
}

export interface PageOptions {
  readonly title: string;
  readonly viewer: Viewer;
  readonly body: Html;
  /** Attributes on <main> the live-status script reads (`data-*`). */
  readonly mainData?: Readonly<Record<string, string>>;
}

/**
 * The frame of every page: the header with the login state, and the body. The stylesheet and the
 * one script are static files served by rollgate, so the Content-Security-Policy can forbid
 * inline script and style altogether.
 */
export function page(o: PageOptions): Html {
  const data = Object.entries(o.mainData ?? {}).map(([k, v]) => html` data-${k}="${v}"`);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · rollgate</title>
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/rollgate.css">
<script src="/assets/live.js" defer></script>
</head>
<body>
<header class="top">
<a class="brand" href="/rollouts">rollgate</a>
<nav><a href="/rollouts">Rollouts</a> <a href="/environments">Environments</a> <a href="/intake">Intake</a> <a href="/audit">Audit</a></nav>
<div class="who">${loginState(o.viewer)}</div>
</header>
<main${data}>
${o.body}
</main>
</body>
</html>
`;
}

/** A page that says why it shows nothing (not logged in, no role), with a way to log in when that helps. */
export function refusedPage(viewer: Viewer, title: string, message: string): Html {
  const login = !viewer.operator && viewer.loginConfigured ? html`<p><a class="login-big" href="${loginHref(viewer)}">Log in</a></p>` : '';
  return page({ title, viewer, body: html`<h1>${title}</h1><p class="problem">${message}</p>${login}` });
}

function loginHref(v: Viewer): string {
  return `/auth/login?return_to=${encodeURIComponent(v.returnTo)}`;
}

function loginState(v: Viewer): Html {
  const op = v.operator;
  if (op) {
    const roles = op.roles.length > 0 ? op.roles.map((g) => `${g.role} via ${g.via}`).join(', ') : 'no roles';
    return html`<span class="operator">${displayName(op.account)}</span> <span class="roles">(${roles})</span>
${op.via === 'session' ? html`<form class="logout" method="post" action="/auth/logout"><input type="hidden" name="_csrf" value="${op.csrfToken ?? ''}"><button type="submit">Log out</button></form>` : ''}`;
  }
  if (v.loginConfigured) return html`<a class="login" href="${loginHref(v)}">Log in</a>`;
  return html`<span class="note">Login is not configured (ROLLGATE_OIDC_*): read only.</span>`;
}
