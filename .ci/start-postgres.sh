#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the test suite and prints its URL.
# Uses Debian's postgresql package; runs the server as the 'postgres' user (it refuses root).
set -euo pipefail
# a free loopback port, unless one is given
port=${PGPORT_TEST:-$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
# the folder: PG_TEST_DIR when the caller wants to stop and remove it later, else a new one
dir=${PG_TEST_DIR:-$(mktemp -d /tmp/rollgate-pg.XXXXXX)}
chown postgres:postgres "$dir"
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U rollgate >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off" start >/dev/null
echo "postgres://rollgate@127.0.0.1:$port/postgres"
