import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * A PostgreSQL server of its own, started like `.ci/start-postgres.sh` (initdb + pg_ctl as the
 * `postgres` user on a free loopback port), so a test can stop and start it without disturbing
 * the suite's server.
 */
export interface ThrowawayPostgres {
  readonly url: string;
  stop(): void;
  start(): void;
  destroy(): void;
}

export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b));
  const bin = path.join('/usr/lib/postgresql', versions.at(-1)!, 'bin');
  const port = await freePort();
  const dir = mkdtempSync('/tmp/rollgate-pg-fault.');
  execFileSync('chown', ['postgres:postgres', dir]);
  const asPostgres = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args], { stdio: 'pipe' });
  asPostgres('initdb', ['-D', `${dir}/data`, '-A', 'trust', '-U', 'rollgate']);
  const start = () => asPostgres('pg_ctl', ['-D', `${dir}/data`, '-l', `${dir}/log`, '-w', '-o', `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c fsync=off`, 'start']);
  const stop = () => asPostgres('pg_ctl', ['-D', `${dir}/data`, '-w', '-m', 'fast', 'stop']);
  start();
  return {
    url: `postgres://rollgate@127.0.0.1:${port}/postgres`,
    start,
    stop,
    destroy: () => {
      try {
        asPostgres('pg_ctl', ['-D', `${dir}/data`, '-w', '-m', 'immediate', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}
