from confluent_kafka import Producer
p = Producer({'bootstrap.servers': '127.0.0.1:19092', 'client.id': 'podwire-rdkafka', 'linger.ms': 10, 'acks': 1, 'broker.address.family': 'v4'})
for i in range(4):
    p.produce('rd', value=b'rd-%d' % i, partition=i % 2)
print('unflushed', p.flush(5))
