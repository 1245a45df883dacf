#!/usr/bin/env bash
# Regenerates the HTTP wire fixtures in this folder from real traffic:
# nginx on loopback, curl and a raw pipelining client, captured by tcpdump,
# split into per-direction byte streams by tshark. Needs root (tcpdump on lo),
# nginx, curl, tcpdump, tshark and python3. See README.md.
set -euo pipefail

out=$(cd "$(dirname "$0")" && pwd)
port=18781
work=$(mktemp -d)
trap 'kill "$(cat "$work/nginx.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
chmod 755 "$work"  # nginx workers run unprivileged
mkdir -p "$work"/{www/ssi,logs,tmp}

printf '<html><body>hello podwire</body></html>\n' > "$work/www/index.html"
printf 'start <!--# echo var="host" --> end\n' > "$work/www/ssi/page.html"
python3 - "$work" <<'PY'
import random, sys
random.seed(7)
w = sys.argv[1]
open(w + '/www/big.txt', 'w').write(''.join(random.choice('abcdefghij \n') for _ in range(40000)))
open(w + '/upload.bin', 'wb').write(bytes(random.randrange(256) for _ in range(3000)))
PY
touch -d '2024-01-01 00:00:00 UTC' "$work"/www/*.html "$work"/www/*.txt

cat > "$work/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 64; }
http {
    access_log $work/logs/access.log;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    types { text/html html; text/plain txt; }
    server {
        listen 127.0.0.1:$port;
        server_name podwire.test;
        root $work/www;
        etag off;
        if_modified_since before;
        # SSI output has no length: chunked for HTTP/1.1, close-delimited for 1.0.
        location /ssi/ { ssi on; }
        # gzip on the fly: chunked.
        location /gz/ { alias $work/www/; gzip on; gzip_types text/plain; gzip_min_length 1; }
        # Proxying reads the request body, so Expect: 100-continue is answered.
        location /upload { proxy_pass http://127.0.0.1:$port/sink; }
        location /sink { return 201 "stored\n"; }
    }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
sleep 1

url=http://127.0.0.1:$port
capture() { # NAME COMMAND...
    local name=$1; shift
    tcpdump -i lo -U -w "$work/$name.pcap" "tcp port $port" 2>/dev/null &
    local dump=$!
    sleep 1
    "$@" > /dev/null
    sleep 1
    kill "$dump"; wait "$dump" || true
    # Stream 0 is the client's connection (the proxy's own comes later).
    tshark -r "$work/$name.pcap" -q -z follow,tcp,raw,0 > "$work/$name.follow"
    tshark -r "$work/$name.pcap" -Y 'tcp.stream eq 0 and tcp.len > 0' -T fields \
        -e frame.time_epoch -e tcp.srcport -e tcp.len > "$work/$name.seg"
    tshark -r "$work/$name.pcap" -o http.decompress_body:FALSE -Y 'tcp.stream eq 0 and http' -T fields \
        -E separator=';' -e http.request.method -e http.request.uri -e http.host -e http.response.code \
        -e http.content_length -e http.chunk_size -e http.time > "$out/$name.tshark"
    python3 - "$work/$name" "$out/$name" "$port" <<'PY'
import sys
src, dst, port = sys.argv[1], sys.argv[2], sys.argv[3]
streams = {'c': bytearray(), 's': bytearray()}
in_data = False
for line in open(src + '.follow'):
    line = line.rstrip('\n')
    if line.startswith('Node 1:'):
        in_data = True
        continue
    if not in_data or not line.strip() or line.startswith('='):
        continue
    side = 's' if line.startswith('\t') else 'c'
    streams[side] += bytes.fromhex(line.strip())
for side, name in (('c', 'c2s'), ('s', 's2c')):
    open(f'{dst}.{name}.bin', 'wb').write(streams[side])
total = {'c': 0, 's': 0}
with open(dst + '.segments', 'w') as seg:
    for line in open(src + '.seg'):
        ts, sport, length = line.split()
        secs, _, frac = ts.partition('.')
        ns = int(secs) * 10**9 + int((frac + '000000000')[:9])
        side = 's' if sport == port else 'c'
        total[side] += int(length)
        seg.write(f'{ns} {side} {length}\n')
for side in 'cs':
    assert total[side] == len(streams[side]), (dst, side, total[side], len(streams[side]))
PY
}

capture keepalive curl -s --compressed \
    -o /dev/null "$url/index.html" -o /dev/null "$url/ssi/page.html" -o /dev/null "$url/nope" \
    -o /dev/null "$url/gz/big.txt" -o /dev/null "$url/big.txt"
capture head curl -s -I "$url/index.html" "$url/big.txt"
capture expect curl -s -H 'Expect: 100-continue' --data-binary "@$work/upload.bin" "$url/upload"
capture chunked_upload curl -s -H 'Transfer-Encoding: chunked' --data-binary "@$work/upload.bin" "$url/upload"
capture not_modified curl -s -z 'Tue, 01 Jan 2030 00:00:00 GMT' "$url/index.html"
capture http10_close curl -s --http1.0 "$url/ssi/page.html"
capture pipelined python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'GET /index.html HTTP/1.1\r\nHost: podwire.test\r\n\r\n'
          b'GET /ssi/page.html HTTP/1.1\r\nHost: podwire.test\r\n\r\n'
          b'HEAD /big.txt HTTP/1.1\r\nHost: podwire.test\r\n\r\n'
          b'GET /missing HTTP/1.1\r\nHost: podwire.test\r\nConnection: close\r\n\r\n')
while s.recv(65536):
    pass
PY
ls -l "$out"
