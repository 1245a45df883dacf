#!/bin/sh
# One TCP connection carrying three queries (+keepopen), then a lone one.
dig @127.0.0.1 -p 15353 +noall +tcp +keepopen host.lab.test A alias.lab.test A txt.lab.test TXT
dig @127.0.0.1 -p 15353 +noall +tcp missing.lab.test A
