#!/usr/bin/env bash
# Regenerates the Redis wire fixtures in this folder from real traffic:
# redis-server 7.0 on loopback, redis-cli, redis-benchmark and the raw
# clients of clients.py, captured by tcpdump, turned into fixtures by
# scripts/stream-fixture.py. Needs root (tcpdump on lo), redis-server,
# redis-tools, tcpdump, tshark and python3; ports 63790 and 63791 free.
# See README.md.
set -euo pipefail

out=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$out/../../../.." && pwd)
work=$(mktemp -d)
trap 'redis-cli -p 63790 shutdown nosave >/dev/null 2>&1 || true;
      redis-cli -p 63791 -a s3cret --no-auth-warning shutdown nosave >/dev/null 2>&1 || true;
      rm -rf "$work"' EXIT

redis-server --port 63790 --bind 127.0.0.1 --save '' --daemonize yes \
    --enable-debug-command yes --logfile "$work/r0.log" --dir "$work"
redis-server --port 63791 --bind 127.0.0.1 --save '' --daemonize yes \
    --requirepass s3cret --logfile "$work/r1.log" --dir "$work" --dbfilename r1.rdb
sleep 0.5

capture() { # NAME PORT COMMAND...
    local name=$1 port=$2; shift 2
    redis-cli -p 63790 flushall >/dev/null
    tcpdump -i lo -U -w "$work/$name.pcap" "tcp port $port" 2>/dev/null &
    local dump=$!
    sleep 1
    timeout 30 "$@" > /dev/null
    # tcpdump needs a moment to write out what it was handed.
    sleep 1.5
    kill -INT "$dump"; wait "$dump" || true
    cp "$work/$name.pcap" "$out/$name.pcap"
    "$repo/scripts/stream-fixture.py" "$out/$name.pcap" "$port" > "$out/$name.txt"
}

capture cli_errors 63790 sh -c "redis-cli -p 63790 SET user:1 hello; redis-cli -p 63790 LPUSH user:1 x; \
    redis-cli -p 63790 NOSUCHCMD arg; redis-cli -p 63790 CLIENT LIST"
capture pipeline 63790 redis-benchmark -p 63790 -P 16 -n 500 -c 1 -t set,get,lpush -q
capture pipelined_mixed 63790 python3 "$out/clients.py" pipeline 63790
for s in basic inline resp3 transaction pubsub clientreply bigvalue monitor blocking; do
    capture "$s" 63790 python3 "$out/clients.py" "$s" 63790
done
capture auth 63791 python3 "$out/clients.py" auth 63791
capture keys 63790 python3 "$out/clients.py" keys 63790
python3 "$out/clients.py" getkeys 63790 > "$out/keys.getkeys"
for f in "$out"/*.pcap; do n=$(basename "$f" .pcap); p=63790; [ "$n" = auth ] && p=63791; "$out/tshark-summary.py" "$f" "$p" > "$out/$n.tshark"; done
ls -l "$out"
