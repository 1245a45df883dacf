from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers='127.0.0.1:19092', client_id='podwire-meta', max_block_ms=300)
try:
    print(p.partitions_for('missing-topic'))
except Exception as e:
    print('error', type(e).__name__)
p.close(timeout=1)
