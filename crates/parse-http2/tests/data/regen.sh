#!/bin/sh
# Remakes the HTTP/2 test captures and fixtures in this folder (as root:
# tcpdump on loopback). Needs nghttp2-server/-client (nghttpd, nghttp),
# curl, tcpdump, tshark and Python grpcio. Ports 18911-18914 must be free.
# Times and ports in the fixtures change, so expected latencies in the
# tests may need updating afterwards.
set -eu
cd "$(dirname "$0")"
FIXTURE=../../../../scripts/stream-fixture.py
DOCS=$(mktemp -d)
trap 'rm -rf "$DOCS"' EXIT
printf 'hello\n' > "$DOCS/index.html"
head -c 30000 /dev/zero | tr '\0' 'a' > "$DOCS/big.txt"
printf 'body { color: red }\n' > "$DOCS/style.css"

# capture NAME PORT COMMAND...: runs COMMAND while capturing PORT.
capture() {
    name=$1 port=$2; shift 2
    tcpdump -i lo -U -s 0 -w "$name.pcap" "tcp port $port" 2>/dev/null &
    dump=$!
    sleep 1
    "$@" || true
    sleep 1
    kill "$dump"; wait "$dump" || true
    python3 "$FIXTURE" "$name.pcap" "$port" > "$name.txt"
    python3 tshark_summary.py "$name.pcap" "$port" > "$name.tshark"
}

# serve PORT COMMAND...: starts a server in the background ($server).
serve() {
    shift
    "$@" >/dev/null 2>&1 &
    server=$!
    sleep 1
}

serve 18911 nghttpd --no-tls -d "$DOCS" -p /index.html=/style.css 18911
capture nghttp_concurrent 18911 nghttp -n \
    http://127.0.0.1:18911/index.html http://127.0.0.1:18911/big.txt \
    http://127.0.0.1:18911/missing http://127.0.0.1:18911/style.css
capture nghttp_padding_continuation 18911 nghttp -n -b 32 --continuation \
    -d "$DOCS/style.css" http://127.0.0.1:18911/index.html
# tshark 4.0 does not decode the server's blocks once the client lowered
# the table size: the reference is nghttp's own log of what it decoded.
capture nghttp_table_size 18911 sh -c "nghttp -nv -c 256 \
    http://127.0.0.1:18911/style.css http://127.0.0.1:18911/missing > nghttp_table_size.nghttp"
kill "$server"

serve 18912 nghttpd --no-tls -b 16 -d "$DOCS" 18912
capture curl_prior_knowledge 18912 curl -s -o /dev/null --http2-prior-knowledge \
    http://127.0.0.1:18912/index.html http://127.0.0.1:18912/big.txt
kill "$server"

serve 18914 python3 h2c_upgrade_server.py 18914
capture curl_upgrade 18914 curl -s -o /dev/null --http2 \
    http://127.0.0.1:18914/index.html http://127.0.0.1:18914/second
python3 tshark_summary.py curl_upgrade.pcap 18914 http > curl_upgrade.tshark

serve 18913 python3 grpc_lab.py serve 18913
capture grpc_calls 18913 python3 grpc_lab.py call 18913
capture grpc_large 18913 python3 grpc_lab.py call-large 18913
kill "$server"

# Third-party captures from the shared corpus (Suricata's test captures).
S=../../../../../shared/pcaps/suricata-verify
if [ -d "$S" ]; then
    third() { # capture port name [dissector]
        python3 "$FIXTURE" "$S/$1.pcap" "$2" "tcp.port == $2" > "$3.txt"
        python3 tshark_summary.py "$S/$1.pcap" "$2" "${4:-http2}" > "$3.tshark"
    }
    third http2-continuation__input 8080 suricata_continuation
    third http2-errorcode__input 6233 suricata_errorcode
    third http2-errorcode__input 8888 suricata_errorcode_8888 http
    third http2-compression-bug__input 443 suricata_compression_bug
    third http2-keywords2__input 80 suricata_keywords2_upgrade http
fi
