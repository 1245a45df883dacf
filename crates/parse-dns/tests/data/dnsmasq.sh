#!/bin/sh
# Authoritative-only dnsmasq on loopback for fixture generation.
exec dnsmasq --no-daemon --no-resolv --no-hosts --port=15353 --listen-address=127.0.0.1 --bind-interfaces \
  --log-queries --log-facility=- --local-ttl=300 \
  --address=/example.test/10.1.2.3 \
  --local=/lab.test/ \
  --address=/nx.test/ \
  --host-record=host.lab.test,10.0.0.5,2001:db8::5 \
  --cname=alias.lab.test,host.lab.test \
  --txt-record=txt.lab.test,"v=spf1 -all","second \"quoted\" string" \
  --mx-host=lab.test,mail.lab.test,10 \
  --host-record=mail.lab.test,10.0.0.25 \
  --srv-host=_sip._tcp.lab.test,sip.lab.test,5060,10,20 \
  --dns-rr=unk.lab.test,65280,0102abcd \
  --dns-rr=soa.lab.test,6,026e73036c61620474657374000a686f73746d6173746572036c616204746573740078a3f17500000e1000000258000151800000012c \
  --dns-rr=https.lab.test,65,000100000100060268320268330003000201bb000400080a0000050a000006 \
  --dns-rr=caa.lab.test,257,000569737375656578616d706c652e6e6574 \
  $(for i in $(seq 1 40); do printf -- '--host-record=many.lab.test,10.9.0.%d ' $i; done)
