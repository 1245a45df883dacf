#!/bin/sh
# Regenerates the key-log fixtures (as root: tcpdump on lo). Needs nginx,
# openssl, curl, tcpdump, editcap. Writes into this directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 3650 \
  -subj "/CN=keylog.podwire.test" -addext "subjectAltName=DNS:keylog.podwire.test,IP:127.0.0.1" 2>/dev/null
mkdir -p www logs
printf 'hello\n' > www/small.txt
head -c 100000 /dev/zero | tr '\0' 'x' > www/big.txt
cat > nginx.conf <<CONF
daemon on;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events {}
http {
  access_log off;
  server {
    listen 127.0.0.1:18443 ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ALL;
    root $work/www;
    location /post { return 200 "posted\n"; }
    location /missing { return 404; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
sleep 0.5
U=https://127.0.0.1:18443
run() { # capture name, then curl invocations separated by ';;'
  name=$1; shift
  rm -f "$work/$name.keys"
  tcpdump -i lo -w "$work/$name.pcap" -s 0 -U 'tcp port 18443' 2>/dev/null &
  tp=$!
  sleep 1
  while [ $# -gt 0 ]; do
    args=""
    while [ $# -gt 0 ] && [ "$1" != ";;" ]; do args="$args $1"; shift; done
    [ $# -gt 0 ] && shift
    # shellcheck disable=SC2086
    SSLKEYLOGFILE="$work/$name.keys" curl -sk $args >/dev/null
  done
  sleep 1
  kill $tp; wait $tp || true
  cp "$work/$name.pcap" "$work/$name.keys" "$here/"
}
run tls12 \
  --http1.1 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256 $U/small.txt $U/big.txt $U/missing ";;" \
  --http1.1 --tls-max 1.2 --ciphers AES256-GCM-SHA384 $U/small.txt -d @www/small.txt $U/post ";;" \
  --http1.1 --tls-max 1.2 --ciphers ECDHE-RSA-CHACHA20-POLY1305 $U/big.txt $U/small.txt ";;" \
  --http2 --tls-max 1.2 --ciphers ECDHE-RSA-AES256-GCM-SHA384 $U/small.txt $U/big.txt $U/missing ";;" \
  --http1.1 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256 -H "Connection: close" $U/small.txt $U/missing
run tls12-cbc --http1.1 --tls-max 1.2 --ciphers AES128-SHA256 $U/small.txt
run tls13 \
  --http1.1 --tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256 $U/small.txt $U/big.txt $U/missing ";;" \
  --http1.1 --tlsv1.3 --tls13-ciphers TLS_AES_256_GCM_SHA384 $U/small.txt -d @www/small.txt $U/post ";;" \
  --http1.1 --tlsv1.3 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 $U/big.txt $U/small.txt ";;" \
  --http2 --tlsv1.3 $U/small.txt $U/big.txt $U/missing ";;" \
  --http2 --tlsv1.3 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 $U/small.txt $U/small.txt
# TLS 1.2 session resumption: the second s_client resumes the first's
# session (abbreviated handshake: the server's CCS and Finished come first).
rm -f "$work/tls12-resumed.keys"
tcpdump -i lo -w "$work/tls12-resumed.pcap" -s 0 -U 'tcp port 18443' 2>/dev/null &
tp=$!
sleep 1
for sess in "-sess_out $work/sess.pem" "-sess_in $work/sess.pem"; do
  # shellcheck disable=SC2086
  printf 'GET /small.txt HTTP/1.1\r\nHost: keylog.podwire.test\r\nConnection: close\r\n\r\n' |
    openssl s_client -connect 127.0.0.1:18443 -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 \
      -keylogfile "$work/tls12-resumed.keys" $sess -ign_eof >/dev/null 2>&1
done
sleep 1
kill $tp; wait $tp || true
cp "$work/tls12-resumed.pcap" "$work/tls12-resumed.keys" "$here/"
editcap --inject-secrets "tls,$here/tls13.keys" "$here/tls13.pcap" "$here/tls13-dsb.pcapng"
ls -l "$here"
