import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SplitLine } from '../../src/gerrit/line-splitter.js';
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  StreamListener,
  type StreamListenerOptions,
  type StreamStatus,
} from '../../src/gerrit/stream-listener.js';
import { silentLogger } from '../../src/log.js';
import { generateEd25519KeyPair, startSshGerritDouble, type SshGerritDouble } from '../helpers/ssh-gerrit-double.js';

const EVENT_TYPES = ['change-merged', 'comment-added'] as const;
const FAST_BACKOFF = { initialMs: 10, maxMs: 50, factor: 2, resetAfterMs: 60_000 } as const;
const WAIT = { timeout: 5_000, interval: 10 } as const;

describe('StreamListener over a loopback Gerrit double', () => {
  let double: SshGerritDouble;
  let listener: StreamListener | undefined;
  let lines: SplitLine[];
  let statuses: StreamStatus[];

  beforeEach(async () => {
    double = await startSshGerritDouble();
    listener = undefined;
    lines = [];
    statuses = [];
  });

  afterEach(async () => {
    await listener?.stop();
    await double.close();
  });

  function start(overrides: Partial<StreamListenerOptions> = {}): StreamListener {
    listener = new StreamListener({
      host: double.host,
      port: double.port,
      username: double.username,
      privateKey: double.clientPrivateKey,
      hostKeyFingerprints: [double.hostKeyFingerprint],
      eventTypes: EVENT_TYPES,
      onLine: (line) => lines.push(line),
      onStatus: (status) => statuses.push(status),
      logger: silentLogger(),
      backoff: FAST_BACKOFF,
      ...overrides,
    });
    listener.start();
    return listener;
  }

  const texts = (): string[] => lines.map((line) => (line.kind === 'line' ? line.text : `<oversize ${line.bytes}>`));
  const states = (): string[] => statuses.map((status) => status.state);
  const retryDelays = (): number[] =>
    statuses.flatMap((status) => (status.state === 'disconnected' ? [status.retryInMs] : []));

  it('connects and runs exactly `gerrit stream-events -s change-merged -s comment-added`', async () => {
    const running = start();
    await double.waitForSession();
    await vi.waitFor(() => expect(running.connected).toBe(true), WAIT);
    expect(double.commands).toEqual(['gerrit stream-events -s change-merged -s comment-added']);
    expect(states()).toEqual(['connecting', 'connected']);
  });

  it('frames several events in one chunk and a line split across chunks', async () => {
    start();
    await double.waitForSession();
    double.pushRaw('{"n":1}\n{"n":2}\n{"n":3}\n');
    double.pushRaw('{"n":4,"subject":"caf');
    double.pushRaw(Buffer.from([0xc3])); // first byte of é
    double.pushRaw(Buffer.from([0xa9]));
    double.pushRaw('"}\r\n');
    double.push({ n: 5 });
    await vi.waitFor(() => expect(lines).toHaveLength(5), WAIT);
    expect(texts()).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4,"subject":"café"}', '{"n":5}']);
  });

  it('delivers a 4 MiB line whole', async () => {
    start();
    await double.waitForSession();
    const big = { type: 'comment-added', comment: 'z'.repeat(4 * 1024 * 1024) };
    double.push(big);
    double.push({ type: 'change-merged' });
    await vi.waitFor(() => expect(lines).toHaveLength(2), WAIT);
    expect(lines[0]).toEqual({ kind: 'line', text: JSON.stringify(big) });
  });

  it('passes a malformed line on as a line, and later lines still arrive', async () => {
    start();
    await double.waitForSession();
    double.push('{"type":"change-merged",');
    double.push({ type: 'comment-added' });
    await vi.waitFor(() => expect(lines).toHaveLength(2), WAIT);
    expect(texts()).toEqual(['{"type":"change-merged",', '{"type":"comment-added"}']);
  });

  it('keeps reading when onLine throws', async () => {
    start({
      onLine: (line) => {
        lines.push(line);
        if (lines.length === 1) throw new Error('consumer bug');
      },
    });
    await double.waitForSession();
    double.push({ n: 1 });
    double.push({ n: 2 });
    await vi.waitFor(() => expect(lines).toHaveLength(2), WAIT);
    expect(double.sessions).toBe(1);
  });

  it('reconnects after the connection is cut, and later events arrive', async () => {
    const running = start();
    await double.waitForSession(1);
    double.push({ n: 1 });
    await vi.waitFor(() => expect(lines).toHaveLength(1), WAIT);

    double.dropAll();
    await double.waitForSession(2);
    double.push({ n: 2 });
    await vi.waitFor(() => expect(texts()).toEqual(['{"n":1}', '{"n":2}']), WAIT);
    expect(running.connected).toBe(true);
    expect(states()).toEqual(['connecting', 'connected', 'disconnected', 'connecting', 'connected']);
    const [delay] = retryDelays();
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThan(FAST_BACKOFF.initialMs);
    expect(double.connections).toBe(1);
    expect(statuses).toContainEqual(
      expect.objectContaining({ state: 'disconnected', reason: expect.stringMatching(/connection closed|ECONNRESET/) }),
    );
  });

  it('ends the client when the command exits, so no connection is left behind', async () => {
    start();
    await double.waitForSession(1);
    double.endStreams(1, 'fatal: internal server error\n');
    await double.waitForSession(2);
    await vi.waitFor(() => expect(double.connections).toBe(1), WAIT);
    const disconnected = statuses.find((status) => status.state === 'disconnected');
    expect(disconnected).toMatchObject({ reason: expect.stringMatching(/exit status 1.*fatal: internal server error/) });
  });

  it('detects a stalled connection by its keepalives and reconnects', async () => {
    start({ keepaliveIntervalMs: 50, keepaliveCountMax: 2 });
    await double.waitForSession(1);
    double.stallAll();
    await double.waitForSession(2);
    double.push({ n: 1 });
    await vi.waitFor(() => expect(texts()).toEqual(['{"n":1}']), WAIT);
    expect(statuses).toContainEqual(expect.objectContaining({ state: 'disconnected', reason: 'Keepalive timeout' }));
  });

  it('refuses an unpinned host key, reports the fingerprint it saw, keeps retrying and delivers nothing', async () => {
    const wrong = 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU';
    const running = start({ hostKeyFingerprints: [wrong] });
    await vi.waitFor(
      () => expect(statuses.filter((status) => status.state === 'host-key-rejected').length).toBeGreaterThanOrEqual(2),
      WAIT,
    );
    expect(statuses).toContainEqual({ state: 'host-key-rejected', seen: double.hostKeyFingerprint });
    expect(statuses).toContainEqual(
      expect.objectContaining({ state: 'disconnected', reason: expect.stringContaining(double.hostKeyFingerprint) }),
    );
    double.push({ n: 1 });
    expect(running.connected).toBe(false);
    expect(double.commands).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('keeps retrying when the key is not accepted', async () => {
    const otherKey = generateEd25519KeyPair().private;
    start({ privateKey: otherKey });
    await vi.waitFor(() => expect(retryDelays().length).toBeGreaterThanOrEqual(2), WAIT);
    expect(statuses).toContainEqual(expect.objectContaining({ reason: expect.stringMatching(/authentication/i) }));
    expect(double.commands).toEqual([]);
  });

  it('backs off exponentially up to maxMs while the server is down', async () => {
    const port = double.port;
    await double.close();
    start({ port, random: () => 0.999 });
    await vi.waitFor(() => expect(retryDelays().length).toBeGreaterThanOrEqual(5), WAIT);
    expect(retryDelays().slice(0, 5)).toEqual([9, 19, 39, 49, 49]);
  });

  it.each([
    { resetAfterMs: 0, expected: [9, 9] },
    { resetAfterMs: 60_000, expected: [9, 19] },
  ])('resets the backoff after a healthy session (resetAfterMs $resetAfterMs)', async ({ resetAfterMs, expected }) => {
    start({ backoff: { ...FAST_BACKOFF, resetAfterMs }, random: () => 0.999 });
    await double.waitForSession(1);
    double.dropAll();
    await double.waitForSession(2);
    double.dropAll();
    await double.waitForSession(3);
    expect(retryDelays()).toEqual(expected);
  });

  it('stop() closes the session and the connection, and nothing restarts', async () => {
    const running = start();
    await double.waitForSession(1);
    await running.stop();
    expect(running.connected).toBe(false);
    expect(states().at(-1)).toBe('stopped');
    await vi.waitFor(() => expect([double.sessions, double.connections]).toEqual([0, 0]), WAIT);
    await running.stop(); // idempotent
    expect(() => running.start()).toThrow(/stopped/);
  });

  it('passes on a line cut off by the end of the stream before stop() resolves', async () => {
    const running = start();
    await double.waitForSession(1);
    double.pushRaw('{"n":1}\n{"cut":');
    await vi.waitFor(() => expect(lines).toHaveLength(1), WAIT);
    await running.stop();
    expect(texts()).toEqual(['{"n":1}', '{"cut":']);
  });

  it('passes on a line cut off by a dropped connection before reporting the disconnect', async () => {
    let seenAtDisconnect: string[] | undefined;
    start({
      onStatus: (status) => {
        if (status.state === 'disconnected') seenAtDisconnect ??= texts();
      },
    });
    await double.waitForSession(1);
    double.pushRaw('{"n":1}\n{"cut":');
    await vi.waitFor(() => expect(lines).toHaveLength(1), WAIT);
    double.dropAll();
    await vi.waitFor(() => expect(seenAtDisconnect).toEqual(['{"n":1}', '{"cut":']), WAIT);
  });

  it('stop() while waiting to retry cancels the retry and leaves no timer', async () => {
    const timeoutsBefore = activeTimeouts();
    const running = start({ backoff: { ...FAST_BACKOFF, initialMs: 60_000, maxMs: 60_000 } });
    await double.waitForSession(1);
    double.dropAll();
    await vi.waitFor(() => expect(states()).toContain('disconnected'), WAIT);
    await running.stop();
    expect(states()).toEqual(['connecting', 'connected', 'disconnected', 'stopped']);
    expect(activeTimeouts()).toBeLessThanOrEqual(timeoutsBefore);
  });

  it('never logs the private key', async () => {
    const records: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (record: string) => void records.push(record) });
    const running = start({ logger });
    await double.waitForSession(1);
    double.endStreams(1, 'fatal: boom\n');
    await double.waitForSession(2);
    await running.stop();
    const keyBody = double.clientPrivateKey.split('\n')[1] ?? '';
    expect(keyBody.length).toBeGreaterThan(20);
    expect(records.length).toBeGreaterThan(3);
    expect(records.join('')).not.toContain(keyBody);
  });
});

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('StreamListener options', () => {
  const valid: StreamListenerOptions = {
    host: '127.0.0.1',
    port: 29418,
    username: 'rollgate',
    privateKey: generateEd25519KeyPair().private,
    hostKeyFingerprints: ['SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU'],
    eventTypes: ['change-merged'],
    onLine: () => undefined,
    logger: silentLogger(),
  };

  it.each([
    ['an event type outside [a-z-]', { eventTypes: ['change-merged; rm -rf /'] }, /invalid gerrit event type/],
    ['no event types', { eventTypes: [] }, /no gerrit event types/],
    ['no pinned fingerprint', { hostKeyFingerprints: [] }, /no gerrit host key fingerprint/],
    ['a malformed fingerprint', { hostKeyFingerprints: ['aa:bb:cc'] }, /invalid gerrit host key fingerprint "aa:bb:cc"/],
    ['a bad port', { port: 0 }, /port/],
    ['a key that is not a key', { privateKey: 'hunter2' }, /privateKey is not a usable private key/],
    ['a backoff that shrinks', { backoff: { ...DEFAULT_BACKOFF, factor: 0.5 } }, /backoff/],
  ])('rejects %s', (_name, overrides: Partial<StreamListenerOptions>, message) => {
    expect(() => new StreamListener({ ...valid, ...overrides })).toThrow(message);
  });

  it('does not quote the key in its error', () => {
    expect(() => new StreamListener({ ...valid, privateKey: 'hunter2' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
  });
});

describe('backoffDelay', () => {
  it.each([
    [0, 0.5, 250],
    [1, 0.5, 500],
    [3, 0.999, 3996],
    [20, 0.999, 59_940],
    [5, 0, 0],
  ])('attempt %i with random %f waits %i ms', (attempt, random, expected) => {
    expect(backoffDelay(attempt, DEFAULT_BACKOFF, () => random)).toBe(expected);
  });
});
