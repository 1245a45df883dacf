#!/usr/bin/env python3
"""Raw-socket Redis clients for the wire fixtures (see README.md).

    clients.py SCENARIO PORT

Each scenario opens its connections to 127.0.0.1:PORT, writes exactly the
bytes listed and reads what the server answers. Reads wait at most 0.3 s
for quiet, so every scenario ends in a few seconds whatever the server does.
"""
import socket
import sys
import time


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=2)

    def send(self, data, wait=0.05):
        self.s.sendall(data)
        return self.drain(wait)

    def cmd(self, *args, wait=0.05):
        return self.send(resp(*args), wait)

    def drain(self, wait=0.05, quiet=0.3):
        """Reads until `quiet` seconds pass without data, after `wait`."""
        time.sleep(wait)
        got = b""
        self.s.settimeout(quiet)
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
        return got

    def close(self):
        self.s.close()


def basic(port):
    c = Conn(port)
    for line in ["SET user:1 hello", "GET user:1", "GET nokey", "INCR visits",
                 "RPUSH list a b c", "LRANGE list 0 -1", "HSET user:2 name Ann age 41",
                 "HGETALL user:2", "LPUSH user:1 x", "NOSUCHCMD arg",
                 "CLIENT SETNAME podwire", "CONFIG GET maxmemory",
                 "OBJECT ENCODING list", "DEL user:1 user:2"]:
        c.cmd(*line.split())
    c.close()


def inline(port):
    c = Conn(port)
    c.send(b"PING\r\n")
    c.send(b'SET greeting "hello world"\r\n')
    c.send(b"get greeting\r\n")
    c.send(b"EXISTS greeting missing\n")
    c.send(b"\r\n")
    c.send(b'ECHO "open\r\n')
    c.close()


def resp3(port):
    c, other = Conn(port), Conn(port)
    c.cmd("HELLO", "3")
    c.cmd("HSET", "h", "f1", "v1", "f2", "v2")
    c.cmd("HGETALL", "h")
    c.cmd("SADD", "s", "a", "b")
    c.cmd("SMEMBERS", "s")
    c.cmd("ZADD", "z", "1.5", "m")
    c.cmd("ZSCORE", "z", "m")
    c.cmd("GET", "missing")
    for kind in ["bignum", "true", "verbatim", "attrib", "push"]:
        c.cmd("DEBUG", "PROTOCOL", kind)
    c.cmd("CLIENT", "TRACKING", "on")
    c.cmd("GET", "tracked")
    other.cmd("SET", "tracked", "1")
    c.drain()
    c.cmd("SUBSCRIBE", "news")
    other.cmd("PUBLISH", "news", "hello")
    c.drain()
    c.cmd("GET", "h2")
    c.cmd("UNSUBSCRIBE")
    c.close()
    other.close()


def transaction(port):
    c, other = Conn(port), Conn(port)
    c.cmd("MULTI")
    c.cmd("SET", "t", "1")
    c.cmd("INCR", "t")
    c.cmd("LPUSH", "t", "x")
    c.cmd("EXEC")
    c.cmd("WATCH", "w")
    other.cmd("SET", "w", "changed")
    c.cmd("MULTI")
    c.cmd("SET", "w", "2")
    c.cmd("EXEC")
    c.cmd("MULTI")
    c.cmd("SET", "a", "1")
    c.cmd("DISCARD")
    c.cmd("MULTI")
    c.cmd("NOSUCHCMD")
    c.cmd("EXEC")
    c.close()
    other.close()


def pubsub(port):
    sub, pub = Conn(port), Conn(port)
    sub.cmd("SUBSCRIBE", "news", "sport")
    sub.cmd("PSUBSCRIBE", "n*")
    sub.cmd("SSUBSCRIBE", "shard1")
    pub.cmd("PUBLISH", "news", "hi")
    pub.cmd("PUBLISH", "sport", "goal")
    pub.cmd("SPUBLISH", "shard1", "s-msg")
    sub.drain()
    sub.cmd("GET", "k")
    sub.cmd("PING")
    sub.cmd("UNSUBSCRIBE")
    sub.cmd("PUNSUBSCRIBE")
    sub.cmd("SUNSUBSCRIBE", "shard1")
    sub.close()
    pub.close()


def clientreply(port):
    c = Conn(port)
    c.cmd("CLIENT", "REPLY", "SKIP")
    c.cmd("SET", "a", "1")
    c.cmd("GET", "a")
    c.cmd("CLIENT", "REPLY", "OFF")
    c.cmd("SET", "b", "2")
    c.cmd("INCR", "c")
    c.cmd("CLIENT", "REPLY", "ON")
    c.cmd("GET", "b")
    c.close()


def auth(port):
    c = Conn(port)
    c.cmd("GET", "x")
    c.cmd("AUTH", "wrong")
    c.cmd("AUTH", "s3cret")
    c.cmd("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "app")
    c.cmd("CONFIG", "SET", "masterauth", "hunter2")
    c.cmd("MIGRATE", "127.0.0.1", "63790", "", "0", "1000", "AUTH", "s3cret", "KEYS", "nokey")
    c.cmd("ACL", "SETUSER", "bob", "on", ">bobpass", "~*", "+@all")
    c.cmd("AUTH", "bob", "bobpass")
    c.cmd("SET", "owner", "bob")
    c.close()


def bigvalue(port):
    c = Conn(port)
    c.cmd("SET", "big", "x" * 40000)
    c.cmd("GET", "big")
    c.cmd("STRLEN", "big")
    c.close()


def monitor(port):
    m, c = Conn(port), Conn(port)
    m.cmd("MONITOR")
    c.cmd("SET", "m", "1")
    c.cmd("GET", "m")
    m.drain()
    m.cmd("PING")
    m.close()
    c.close()


def blocking(port):
    a, b = Conn(port), Conn(port)
    a.cmd("BLPOP", "q", "0.2", wait=0.3)
    a.s.sendall(resp("BLPOP", "q", "5"))
    time.sleep(0.2)
    b.cmd("LPUSH", "q", "job")
    a.drain()
    a.close()
    b.close()


def pipeline(port):
    c = Conn(port)
    batch = [resp("SET", "p:%d" % i, "v%d" % i) for i in range(10)]
    batch += [resp("GET", "p:%d" % i) for i in range(10)]
    batch += [b"PING\r\n", resp("INCR", "p:0"), resp("LRANGE", "p:list", "0", "-1")]
    c.send(b"".join(batch))
    c.close()

# Commands whose first key is not simply their first argument, each as
# Redis 7.0's key specs place it. `getkeys` asks the server itself
# (`COMMAND GETKEYS`) where their keys are: the reference for `keys`.
KEYED = [
    ["EVAL", "return 1", "2", "k1", "k2", "a"], ["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "1", "ke"],
    ["EVAL_RO", "return 1", "1", "kro"], ["FCALL", "f", "1", "kf"],
    ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s1", "s2", ">", ">"],
    ["XREAD", "COUNT", "2", "STREAMS", "xs", "0"], ["ZUNIONSTORE", "dst", "2", "z1", "z2"], ["ZINTER", "2", "za", "zb"],
    ["LMPOP", "2", "l1", "l2", "LEFT"], ["BLMPOP", "0.01", "1", "bl1", "LEFT"], ["SINTERCARD", "2", "s1", "s2"],
    ["ZMPOP", "1", "zz", "MIN"], ["SORT", "sk", "BY", "nosort", "STORE", "dst"], ["SORT_RO", "sro"],
    ["MIGRATE", "127.0.0.1", "1", "", "0", "10", "KEYS", "mk1", "mk2"],
    ["MIGRATE", "127.0.0.1", "1", "", "0", "10", "COPY", "AUTH2", "KEYS", "pw", "KEYS", "mk3"],
    ["MIGRATE", "127.0.0.1", "1", "one", "0", "10"],
    ["GEORADIUS", "gk", "0", "0", "1", "km", "STORE", "gd"], ["OBJECT", "ENCODING", "ok"], ["MEMORY", "USAGE", "mu"],
    ["XINFO", "STREAM", "xi"], ["BITFIELD_RO", "bf", "GET", "u8", "0"], ["MSET", "m1", "1", "m2", "2"],
    ["GETEX", "gx", "PX", "100"], ["LCS", "a1", "a2"], ["PFCOUNT", "p1", "p2"], ["BZPOPMIN", "bz1", "bz2", "0.01"],
    ["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0.01"], ["RENAME", "rn1", "rn2"], ["XAUTOCLAIM", "xa", "g", "c", "0", "0"],
    ["SPUBLISH", "shch", "m"], ["WATCH", "w1", "w2"], ["CLIENT", "NO-EVICT", "on"], ["OBJECT", "FREQ", "of"],
    ["COPY", "c1", "c2"], ["GEOSEARCHSTORE", "gsd", "gss", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"],
    ["ZRANGESTORE", "zrd", "zrs", "0", "-1"], ["PUBSUB", "NUMSUB", "x"], ["SCRIPT", "EXISTS", "abc"],
    ["RESTORE", "rk", "0", "x"],
]


def keys(port):
    c = Conn(port)
    for command in KEYED:
        c.cmd(*command, wait=0.01)
    c.close()


def getkeys(port):
    """One line per KEYED command: its keys by COMMAND GETKEYS, tab-separated
    (empty when Redis says it has none)."""
    c = Conn(port)
    for command in KEYED:
        got = c.cmd("COMMAND", "GETKEYS", *command, wait=0.01)
        names = []
        if got.startswith(b"*"):
            lines = got.split(b"\r\n")
            names = [lines[i].decode() for i in range(2, len(lines), 2) if lines[i - 1].startswith(b"$")]
        print("\t".join(names))
    c.close()


if __name__ == "__main__":
    globals()[sys.argv[1]](int(sys.argv[2]))
