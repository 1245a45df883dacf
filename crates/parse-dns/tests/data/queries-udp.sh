#!/bin/sh
D="dig @127.0.0.1 -p 15353 +noall"
$D example.test A
$D host.lab.test AAAA
$D alias.lab.test A
$D txt.lab.test TXT
$D lab.test MX
$D _sip._tcp.lab.test SRV
$D nothing.nx.test A
$D missing.lab.test A
$D unk.lab.test TYPE65280
$D caa.lab.test CAA
$D soa.lab.test SOA
$D https.lab.test HTTPS
$D -x 10.0.0.5
$D many.lab.test A +noedns +ignore
$D host.lab.test A +bufsize=1232 +cookie
