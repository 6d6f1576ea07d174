#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on loopback for the tests; prints the URL to use.
# Installs Debian's postgresql when its binaries are missing. Usage: eval "$(bash .ci/postgres.sh)"
set -euo pipefail
PORT=${PGPORT_TEST:-54329}
# the first free port from there (another server, such as a developer's own test server, may hold it)
for p in $(seq "$PORT" $((PORT + 50))); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi
done
if ! ls -d /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
DATA=$(mktemp -d /tmp/balancedrnn-pg.XXXXXX)
chown postgres "$DATA"
su postgres -s /bin/sh -c "$PGBIN/initdb -D $DATA -A trust -U postgres" >/dev/null
# one role that must give its password (the first matching line wins), for the wrong-password tests
sed -i '1i host all balancedrnn_pw 127.0.0.1/32 scram-sha-256' "$DATA/pg_hba.conf"
su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $DATA -l $DATA/server.log -w -o '-c listen_addresses=127.0.0.1 -p $PORT -k $DATA' start" >&2
su postgres -s /bin/sh -c "$PGBIN/createdb -h 127.0.0.1 -p $PORT -U postgres balancedrnn_test"
su postgres -s /bin/sh -c "$PGBIN/psql -q -h 127.0.0.1 -p $PORT -U postgres -d balancedrnn_test -c \"CREATE ROLE balancedrnn_pw LOGIN PASSWORD 'right'\""
echo "export BALANCEDRNN_TEST_PG_URL=postgresql://postgres@127.0.0.1:$PORT/balancedrnn_test"
echo "export BALANCEDRNN_TEST_PG_PW_URL=postgresql://balancedrnn_pw:right@127.0.0.1:$PORT/balancedrnn_test"
echo "export BALANCEDRNN_TEST_PG_STOP='su postgres -s /bin/sh -c \"$PGBIN/pg_ctl -D $DATA stop -m fast\"'"
