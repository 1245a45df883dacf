#!/bin/sh
# Re-creates the captures and fixtures of this directory from a throwaway
# PostgreSQL 15 cluster on 127.0.0.1:54329 (see README.md for its setup).
# Each capture is one scenario; tests assert on the fixture text made from
# it by scripts/stream-fixture.py, and the .pcap stays the reference that
# tshark is compared with.
set -eu
cd "$(dirname "$0")"
PORT=54329
FIXTURE=../../../../scripts/stream-fixture.py
export PGHOST=127.0.0.1 PGPORT=$PORT PGSSLMODE=disable PGGSSENCMODE=disable

capture() { # NAME COMMAND...
    name=$1; shift
    tcpdump -i lo -U -s 0 -w "$name.pcap" "tcp port $PORT" 2>/dev/null &
    dump=$!
    sleep 1
    "$@" || true
    sleep 1
    kill "$dump"; wait "$dump" || true
    python3 "$FIXTURE" "$name.pcap" $PORT > "$name.txt"
}

app() { PGPASSWORD=S3cretPassw0rd PGAPPNAME=podwire-test psql -X -q -U app -d appdb "$@"; }

capture simple app -c "SELECT 1 AS one, 'x' AS two" \
    -c "CREATE TEMP TABLE t (id int PRIMARY KEY, name text); INSERT INTO t VALUES (1, 'ann'), (2, 'bob'); UPDATE t SET name = 'carl' WHERE id = 2; SELECT * FROM t WHERE name IN ('ann', 'carl')" \
    -c "SELECT * FROM no_such_table" \
    -c "DO \$\$ BEGIN RAISE NOTICE 'hello %', 42; END \$\$" \
    -c "PREPARE q(int) AS SELECT \$1 + 1; EXECUTE q(41); DEALLOCATE q"

capture passwords sh -c '
    PGPASSWORD=Cl3arTextPw psql -X -q -U clear -d appdb -c "SELECT current_user"
    PGPASSWORD=Md5Passw0rd psql -X -q -U md5u -d appdb -c "SELECT current_user"
    PGPASSWORD=wrong psql -X -q -U app -d appdb -c "SELECT 1"'

capture copy app -c "CREATE TEMP TABLE c (a int, b text)" \
    -c "\\copy c FROM stdin" -c "COPY c TO STDOUT" <<'DATA'
1	one
2	two
3	three
\.
DATA

capture notify app -c "LISTEN jobs" -c "NOTIFY jobs, 'secret payload'" -c "SELECT pg_notify('jobs', 'x')"

capture cancel sh -c 'PGPASSWORD=S3cretPassw0rd timeout -s INT 1 psql -X -q -U app -d appdb -c "SELECT pg_sleep(5)"'

for mode in simple extended prepared; do
    capture pgbench_$mode sh -c "PGPASSWORD=S3cretPassw0rd pgbench -n -U app -M $mode -t 20 appdb >/dev/null"
done

capture pipeline python3 pipeline.py

capture ssl_accepted env PGSSLMODE=require sh -c 'PGPASSWORD=S3cretPassw0rd psql -X -q -U app -d appdb -c "SELECT 1"'

admin() { psql -X -q -h /tmp/pgX -U postgres -c "$1" -c "SELECT pg_reload_conf()" >/dev/null; }
admin "ALTER SYSTEM SET ssl = off"
sleep 1
capture ssl_refused env PGSSLMODE=prefer sh -c 'PGPASSWORD=S3cretPassw0rd psql -X -q -U app -d appdb -c "SELECT 1"'
admin "ALTER SYSTEM RESET ssl"
