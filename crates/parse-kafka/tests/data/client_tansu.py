from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient
from kafka.admin import NewTopic
import time
admin = KafkaAdminClient(bootstrap_servers="127.0.0.1:19092")
try:
    admin.create_topics([NewTopic("podwire-real", 1, 1)])
except Exception as e:
    print("create:", e)
p = KafkaProducer(bootstrap_servers="127.0.0.1:19092", linger_ms=0)
for i in range(20):
    p.send("podwire-real", f"message {i}".encode())
p.flush()
p.close()
c = KafkaConsumer("podwire-real", bootstrap_servers="127.0.0.1:19092", auto_offset_reset="earliest", consumer_timeout_ms=3000, group_id=None)
n = sum(1 for _ in c)
print("consumed", n)
c.close()
