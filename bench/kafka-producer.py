"""Load for bench/protocols.sh's Kafka capture: a kafka-python producer that
sends --messages small messages (acks=1, 2 partitions, one topic) in batches
of at most --batch-size bytes, waits for every acknowledgement and prints
`produced N acked M` and the producer's own records-per-request average."""
import argparse
import sys
import time

from kafka import KafkaProducer

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--messages", type=int, default=50000)
ap.add_argument("--batch-size", type=int, default=4096)
ap.add_argument("--linger-ms", type=int, default=2)
ap.add_argument("--topic", default="podwire-bench")
a = ap.parse_args()

p = KafkaProducer(
    bootstrap_servers=f"127.0.0.1:{a.port}",
    client_id="podwire-bench",
    acks=1,
    linger_ms=a.linger_ms,
    batch_size=a.batch_size,
    request_timeout_ms=30000,
)
t0 = time.time()
futures = [
    p.send(a.topic, key=b"k%d" % (i % 1000), value=b"bench message %08d" % i, partition=i % 2)
    for i in range(a.messages)
]
p.flush(timeout=120)
acked = 0
for f in futures:
    try:
        f.get(timeout=0)
        acked += 1
    except Exception:  # noqa: BLE001 - count failures, report below
        pass
m = p.metrics().get("producer-metrics", {})
rpr = m.get("records-per-request-avg")
p.close(timeout=10)
print(f"produced {a.messages} acked {acked} seconds {time.time() - t0:.1f} records-per-request-avg {rpr}")
sys.exit(0 if acked == a.messages else 1)
