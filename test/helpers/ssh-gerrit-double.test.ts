import ssh2 from 'ssh2';
import type { ConnectConfig } from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateEd25519KeyPair, startSshGerritDouble, type SshGerritDouble } from './ssh-gerrit-double.js';

interface ExecResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one command with a plain ssh2 client and collects its output. */
function exec(double: SshGerritDouble, command: string, overrides: Partial<ConnectConfig> = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.on('ready', () => {
      client.exec(command, (err, stream) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        let status: number | null = null;
        stream.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        stream.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        stream.on('exit', (code: number | null) => (status = code));
        stream.on('close', () => {
          client.end();
          resolve({ status, stdout, stderr });
        });
      });
    });
    client.connect({
      host: double.host,
      port: double.port,
      username: double.username,
      privateKey: double.clientPrivateKey,
      ...overrides,
    });
  });
}

describe('ssh gerrit double', () => {
  let double: SshGerritDouble;

  beforeEach(async () => {
    double = await startSshGerritDouble({ username: 'bot' });
  });

  afterEach(async () => {
    await double.close();
  });

  it('answers an unknown command like Gerrit: exit status 1 and a fatal message', async () => {
    expect(await exec(double, 'gerrit version')).toEqual({ status: 1, stdout: '', stderr: 'fatal: gerrit version: not found\n' });
    expect(await exec(double, 'gerrit stream-events --bogus')).toMatchObject({
      status: 1,
      stderr: 'fatal: "--bogus" is not a valid option\n',
    });
    expect(double.commands).toEqual(['gerrit version', 'gerrit stream-events --bogus']);
    expect(double.sessions).toBe(0);
  });

  it('accepts only its client key for its username', async () => {
    const otherKey = generateEd25519KeyPair().private;
    await expect(exec(double, 'gerrit version', { privateKey: otherKey })).rejects.toThrow(/authentication/i);
    await expect(exec(double, 'gerrit version', { username: 'someone' })).rejects.toThrow(/authentication/i);
    await expect(exec(double, 'gerrit version', { password: 'x', privateKey: undefined })).rejects.toThrow(
      /authentication/i,
    );
    expect(double.commands).toEqual([]);
  });

  it('ends stream sessions with the given exit status', async () => {
    const result = exec(double, 'gerrit stream-events -s change-merged');
    await double.waitForSession();
    double.push({ type: 'change-merged' });
    double.endStreams(0);
    expect(await result).toEqual({ status: 0, stdout: '{"type":"change-merged"}\n', stderr: '' });
  });
});
