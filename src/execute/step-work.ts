import path from 'node:path';
import type { StepWork } from '../policy/workflow-config.js';
import { interpolate, interpolateJson, interpolateUrl, type Variables } from '../policy/interpolate.js';
import { redact, redactedTail, secretValues } from './redact.js';
import { runProcess } from './run-process.js';

/** Where an attempt's output goes as it comes. */
export interface OutputSink {
  push(chunk: Buffer | string): void;
  /** Resolves once everything pushed is stored. */
  close(): Promise<void>;
}

/** What one attempt of a step's work (a `run` program or an `http` call) did, ready to store (secrets already redacted). */
export interface WorkResult {
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly httpStatus: number | null;
  /** Output tail of a program, or the start of an HTTP response body. */
  readonly output: string | null;
  readonly error: string | null;
}

export interface WorkContext {
  readonly vars: Variables;
  readonly workDir: string;
  /** The allowlisted environment plus rollgate's own variables for this step. */
  readonly env: Readonly<Record<string, string>>;
  readonly idempotencyKey: string;
  readonly timeoutMs: number;
  readonly secrets: readonly string[];
  readonly signal: AbortSignal;
  /** Stores the attempt's output as it comes, hiding the secrets it is given (those this attempt knows of). */
  readonly recordOutput?: (secrets: readonly string[]) => OutputSink;
  /** Records a `run` step's process group while it runs, so a worker taking over after a crash can stop it. */
  readonly onSpawn?: (pgid: number) => Promise<void>;
}

/** Bytes of output kept per step (after redaction), and of an HTTP response body. */
export const OUTPUT_TAIL_BYTES = 64 * 1024;
export const HTTP_BODY_BYTES = 4 * 1024;
/** Read past what is kept, so a secret straddling the cut is redacted whole before cutting. */
const TAIL_SLACK_BYTES = 4 * 1024;

/** Does one attempt of a step's work: runs its program or makes its HTTP call. Expected failures are results, never throws. */
export async function doWork(work: StepWork, ctx: WorkContext): Promise<WorkResult> {
  try {
    return work.run ? await runProgram(work, work.run, ctx) : await callHttp(work, ctx);
  } catch (err) {
    return { ok: false, exitCode: null, httpStatus: null, output: null, error: redact((err as Error).message, ctx.secrets) };
  }
}

async function runProgram(work: StepWork, run: readonly string[], ctx: WorkContext): Promise<WorkResult> {
  // change data goes into single argv elements; there is no shell to interpret it
  const argv = run.map((arg) => interpolate(arg, ctx.vars));
  const extra = Object.fromEntries(Object.entries(work.env).map(([k, v]) => [k, interpolate(v, ctx.vars)]));
  // the step's own secret-looking variables (`DEPLOY_API_KEY: …` written in the workflow) are hidden too
  const secrets = secretValues(extra, ctx.secrets);
  const sink = ctx.recordOutput?.(secrets);
  let recorded: Promise<void> | undefined;
  const r = await runProcess({
    ...(ctx.onSpawn ? { onSpawn: (pgid: number) => (recorded = ctx.onSpawn!(pgid)) } : {}),
    ...(sink ? { onOutput: (chunk: Buffer) => sink.push(chunk) } : {}),
    argv,
    cwd: work.cwd ? path.resolve(ctx.workDir, work.cwd) : ctx.workDir,
    env: { ...extra, ...ctx.env },
    timeoutMs: ctx.timeoutMs,
    tailBytes: OUTPUT_TAIL_BYTES + TAIL_SLACK_BYTES,
    signal: ctx.signal,
  });
  // recorded before the attempt's end is, so the end clears it rather than racing with it
  await recorded;
  await sink?.close();
  const ok = r.exitCode === 0 && !r.timedOut && r.spawnError === undefined && !ctx.signal.aborted;
  const error = ok
    ? null
    : (r.spawnError ?? (r.timedOut ? `timed out after ${ctx.timeoutMs} ms; everything it started was stopped` : r.exitCode === null ? `killed by ${r.signal}` : `exit code ${r.exitCode}`));
  return { ok, exitCode: r.exitCode, httpStatus: null, output: redactedTail(r.outputTail, secrets, OUTPUT_TAIL_BYTES), error: error === null ? null : redact(error, secrets) };
}

async function callHttp(work: StepWork, ctx: WorkContext): Promise<WorkResult> {
  const http = work.http!;
  const url = interpolateUrl(http.url, ctx.vars);
  const headers: Record<string, string> = { 'idempotency-key': ctx.idempotencyKey };
  for (const [k, v] of Object.entries(http.headers)) headers[k.toLowerCase()] = interpolate(v, ctx.vars);
  let body: string | undefined;
  if (http.json !== undefined) {
    body = JSON.stringify(interpolateJson(http.json, ctx.vars));
    headers['content-type'] ??= 'application/json';
  }
  // a timer of our own, not AbortSignal.timeout(): Node can collect a timeout signal that only
  // AbortSignal.any() refers to, and the request then never times out (seen under GC pressure)
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new DOMException(`timed out after ${ctx.timeoutMs} ms`, 'TimeoutError')), ctx.timeoutMs);
  try {
    return await requestOnce(http, url, headers, body, AbortSignal.any([ctx.signal, timeout.signal]), ctx);
  } finally {
    clearTimeout(timer);
  }
}

async function requestOnce(http: NonNullable<StepWork['http']>, url: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal, ctx: WorkContext): Promise<WorkResult> {
  let response: Response;
  try {
    response = await fetch(url, { method: http.method, headers, ...(body !== undefined ? { body } : {}), signal, redirect: 'manual' });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `timed out after ${ctx.timeoutMs} ms` : e.name === 'AbortError' ? 'stopped' : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { ok: false, exitCode: null, httpStatus: null, output: null, error: redact(`${http.method} ${url}: ${why}`, ctx.secrets) };
  }
  const excerpt = await readExcerpt(response, HTTP_BODY_BYTES + TAIL_SLACK_BYTES);
  const ok = http.expect ? http.expect.includes(response.status) : response.status >= 200 && response.status < 300;
  const text = redact(excerpt, ctx.secrets);
  const kept = Buffer.byteLength(text) > HTTP_BODY_BYTES ? Buffer.from(text).subarray(0, HTTP_BODY_BYTES).toString('utf8').replace(/\uFFFD+$/, '') + '…' : text;
  // the body excerpt is the attempt's output
  const sink = ctx.recordOutput?.(ctx.secrets);
  sink?.push(kept);
  await sink?.close();
  return {
    ok,
    exitCode: null,
    httpStatus: response.status,
    output: kept,
    error: ok ? null : redact(`${http.method} ${url} answered ${response.status}, expected ${http.expect ? http.expect.join(' or ') : '2xx'}`, ctx.secrets),
  };
}

/** The first `max` bytes of a response body; the rest is not read (a huge body costs nothing). */
async function readExcerpt(response: Response, max: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // a body cut off midway still gives its start
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8').replace(/\uFFFD+$/, '');
}
