from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers='127.0.0.1:19092', client_id='podwire-consumer', enable_auto_commit=False, group_id=None, fetch_max_wait_ms=100)
tps = [TopicPartition('orders', 0), TopicPartition('orders', 1), TopicPartition('events', 0)]
c.assign(tps); c.seek_to_beginning(*tps)
got = 0
for _ in range(20):
    for tp, msgs in c.poll(timeout_ms=200).items():
        got += len(msgs)
    if got >= 8: break
c.close(); print('consumed', got)
