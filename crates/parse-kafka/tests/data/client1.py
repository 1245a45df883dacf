import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
acks = sys.argv[1] if len(sys.argv) > 1 else '1'
p = KafkaProducer(bootstrap_servers='127.0.0.1:19092', acks=int(acks) if acks != 'all' else 'all', client_id='podwire-producer', linger_ms=20)
for i in range(5):
    p.send('orders', key=b'k%d' % i, value=b'order-%d' % i, partition=i % 2)
for i in range(3):
    p.send('events', value=b'event-%d' % i, partition=0)
p.flush(); import time; time.sleep(0.3); p.close()
print('produced 8')
