/**
 * The page's static files, kept as strings so the service needs no build step or file copy
 * to serve them. Being files served by rollgate (not inline), they pass a CSP of `'self'`.
 */

/**
 * Keeps a rollout page current: while the rollout is not settled, asks `GET /api/rollouts/:id`
 * every second and reloads when its status or a step's status or attempts differ from what the
 * page shows, or when the session ended. It never reloads under someone typing a justification;
 * it says so instead. Step output streams in from `GET /api/rollouts/:id/output` (server-sent
 * events, starting after the newest chunk the page was drawn with; the browser resumes after the
 * last chunk it got when the connection drops) and is appended to its attempt's output.
 */
export const LIVE_JS = `'use strict';
(function () {
  var main = document.querySelector('main[data-live]');
  if (!main) return;
  var id = main.getAttribute('data-rollout');
  function differs(r) {
    if (r.status !== main.getAttribute('data-status')) return true;
    return (r.steps || []).some(function (s) {
      var el = main.querySelector('[data-step="' + CSS.escape(s.id) + '"]');
      if (!el) return true;
      // a held rollout's pending steps are shown as "not run"; that is no change
      var shown = el.getAttribute('data-status') === 'not_run' ? 'pending' : el.getAttribute('data-status');
      return shown !== s.status || el.getAttribute('data-attempts') !== String(s.attempts);
    });
  }
  function typing() {
    return Array.prototype.some.call(document.querySelectorAll('input[name=justification]'), function (i) { return i.value !== ''; });
  }
  function changed() {
    if (!typing()) return location.reload();
    document.querySelector('.live-note').hidden = false;
  }
  var after = main.getAttribute('data-output-after');
  if (after !== null && window.EventSource) {
    var source = new EventSource('/api/rollouts/' + encodeURIComponent(id) + '/output?after=' + encodeURIComponent(after));
    source.addEventListener('output', function (e) {
      var c = JSON.parse(e.data);
      var pre = main.querySelector('pre[data-output="' + CSS.escape(c.step + '#' + c.attempt) + '"]');
      // an attempt that started after the page was drawn: the page drawn again shows it
      if (!pre) return void changed();
      var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(document.createTextNode(c.text));
      // a page left open on a chatty step keeps only the newest output
      if (pre.textContent.length > 262144) pre.textContent = pre.textContent.slice(-196608);
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    });
    source.addEventListener('end', function () { source.close(); });
  }
  function poll() {
    fetch('/api/rollouts/' + encodeURIComponent(id), { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) {
        // the session ended: the reloaded page asks to log in again
        if (res.status === 401) return location.reload();
        return res.ok ? res.json() : null;
      })
      .then(function (r) {
        if (r === undefined) return;
        if (r && differs(r)) changed();
        setTimeout(poll, 1000);
      }, function () { setTimeout(poll, 1000); });
  }
  setTimeout(poll, 1000);
})();
`;

export const CSS = `:root { --fg: #1d2330; --muted: #5b6476; --line: #d8dce4; --bg: #f6f7f9; --ok: #1f7a3a; --bad: #b3261e; --wait: #8a5a00; --run: #1a5fb4; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header.top { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
header.top a { color: #fff; text-decoration: none; }
header.top .brand { font-weight: 700; letter-spacing: .02em; }
header.top nav a { margin-right: 1rem; opacity: .85; }
header.top .who { margin-left: auto; display: flex; align-items: center; gap: .5rem; }
header.top .roles, header.top .note { opacity: .75; font-size: .9em; }
form.logout { display: inline; margin: 0; }
main { max-width: 78rem; margin: 0 auto; padding: 1rem 1.2rem 3rem; }
h1 { font-size: 1.5rem; margin: .6rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
a { color: var(--run); }
time { white-space: nowrap; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, monospace; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .9em; }
.subject { color: var(--muted); font-size: .92em; overflow-wrap: anywhere; }
section .subject { color: var(--fg); font-size: 1.05em; }
.badge { display: inline-block; white-space: nowrap; padding: .05rem .45rem; border-radius: .7rem; font-size: .8rem; font-weight: 600; background: #e4e7ec; color: var(--fg); vertical-align: middle; }
.status-succeeded .badge, .badge.status-succeeded, .badge.status-allow { background: #dcf2e2; color: var(--ok); }
.badge.status-failed, .badge.status-denied, .badge.status-deny, .badge.status-rolled_back, .badge.status-expired { background: #fbe1df; color: var(--bad); }
.badge.status-held, .badge.status-hold, .badge.status-waiting, .badge.status-queued { background: #fdf0d2; color: var(--wait); }
.badge.status-running { background: #dde8fa; color: var(--run); }
form.filters { display: flex; flex-wrap: wrap; gap: .8rem; align-items: end; margin-bottom: 1rem; }
form.filters label { display: flex; flex-direction: column; font-size: .85em; color: var(--muted); }
input, select, button { font: inherit; padding: .3rem .5rem; border: 1px solid var(--line); border-radius: .3rem; background: #fff; }
button { cursor: pointer; background: #1d2330; color: #fff; border-color: #1d2330; }
.problem { padding: .6rem .8rem; background: #fbe1df; color: var(--bad); border-radius: .3rem; }
.flash { padding: .6rem .8rem; background: #dde8fa; border-radius: .3rem; overflow-wrap: anywhere; }
.live-note { padding: .4rem .8rem; background: #fdf0d2; border-radius: .3rem; }
.empty, .note { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
ul.reasons { margin: .2rem 0; padding-left: 1.2rem; }
ul.reasons li { overflow-wrap: anywhere; }
form.action { display: flex; gap: .6rem; align-items: end; margin: .4rem 0; }
form.action label { display: flex; flex-direction: column; font-size: .85em; color: var(--muted); flex: 1; max-width: 32rem; }
form.action-deny button, form.action-cancel button, form.action-rollback button { background: var(--bad); border-color: var(--bad); }
ol.dag { display: flex; gap: 2.2rem; list-style: none; padding: 0; margin: 0; overflow-x: auto; }
ol.dag > li.layer { position: relative; min-width: 14rem; max-width: 22rem; }
ol.dag > li.layer + li.layer::before { content: "→"; position: absolute; left: -1.6rem; top: 2.4rem; color: var(--muted); font-size: 1.2rem; }
li.layer h3 { font-size: .75rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 .4rem; }
ol.steps { list-style: none; padding: 0; margin: 0; display: flex; flex-direction: column; gap: .6rem; }
li.step { background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--line); border-radius: .3rem; padding: .5rem .6rem; }
li.step.status-succeeded { border-left-color: var(--ok); }
li.step.status-failed { border-left-color: var(--bad); }
li.step.status-running { border-left-color: var(--run); }
li.step.status-waiting { border-left-color: var(--wait); }
.step-head { display: flex; gap: .4rem; align-items: center; }
.step-id { font-weight: 600; overflow-wrap: anywhere; }
.kind { color: var(--muted); font-size: .85em; }
li.step dl { display: grid; grid-template-columns: max-content 1fr; gap: 0 .6rem; margin: .3rem 0 0; font-size: .88em; }
li.step dt { color: var(--muted); }
li.step dd { margin: 0; }
li.step .note, li.step .error { font-size: .88em; margin: .3rem 0 0; overflow-wrap: anywhere; }
li.step .error { color: var(--bad); }
ol.attempts { list-style: none; margin: .3rem 0 0; padding: 0; }
li.attempt summary { cursor: pointer; font-size: .88em; }
li.attempt summary .facts { color: var(--muted); overflow-wrap: anywhere; }
details pre { max-height: 18rem; overflow: auto; background: #1d2330; color: #e8eaf0; padding: .5rem; border-radius: .3rem; font-size: .82em; white-space: pre-wrap; overflow-wrap: anywhere; }
ol.decisions { padding-left: 1.2rem; }
ol.decisions > li { margin-bottom: .6rem; }
.when .utc { color: var(--muted); font-size: .85em; white-space: nowrap; }
.badge.status-not_run { background: #eef0f3; color: var(--muted); }
header.top { flex-wrap: wrap; row-gap: .3rem; }
nav.pager { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
section.environment { background: #fff; border: 1px solid var(--line); border-radius: .3rem; padding: .2rem .9rem .8rem; margin-bottom: 1rem; }
section.environment h2 { border: 0; }
ol.queue { margin: .2rem 0; padding-left: 1.4rem; }
ol.queue li, ul.running li { margin-bottom: .3rem; overflow-wrap: anywhere; }
ul.running { margin: .2rem 0; padding-left: 1.2rem; }
.state-yes { color: var(--ok); font-weight: 600; }
.state-no { color: var(--bad); font-weight: 600; }
td pre.head { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .82em; }
svg.step-graph.narrow { display: none; max-width: 100%; height: auto; margin: 0 auto; }
/* a phone: table rows become cards, so nothing is wider than the screen */
@media (max-width: 700px) {
  svg.step-graph.wide { display: none; }
  svg.step-graph.narrow { display: block; }
  ol.dag { flex-direction: column; gap: 1.6rem; }
  ol.dag > li.layer { max-width: none; min-width: 0; }
  ol.dag > li.layer + li.layer::before { content: "↓"; left: .2rem; top: -1.5rem; }
  main { padding: .6rem .7rem 2rem; }
  header.top { gap: .6rem; padding: .5rem .7rem; }
  header.top .who { margin-left: 0; flex-wrap: wrap; }
  table.rollouts, table.rollouts tbody, table.rollouts tr, table.rollouts td, table.events, table.events tbody, table.events tr, table.events td { display: block; width: 100%; }
  table.rollouts thead, table.events thead { display: none; }
  table.rollouts tr, table.events tr { border-bottom: 2px solid var(--line); padding: .3rem 0; }
  table.rollouts td, table.events td { border: 0; padding: .1rem .6rem; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: .3rem; overflow-wrap: anywhere; }
  form.filters label, form.filters input, form.filters select { width: 100%; }
}
`;

/** A gate in a square; declared by the pages so browsers do not ask for a missing /favicon.ico. */
export const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2330"/><path d="M4 13V5h8v8M4 8h8" stroke="#dcf2e2" stroke-width="1.6" fill="none"/></svg>
`;
