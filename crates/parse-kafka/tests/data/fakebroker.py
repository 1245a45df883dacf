"""A stand-in Kafka broker for captures: kafka-python's own JSON-schema
message classes decode each request and encode its response (any version,
flexible or not). Topics are auto-created with 2 partitions; produced batches
are kept (offsets rewritten) and served back by Fetch. Test tool only."""
import socket, struct, sys, threading
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka.protocol.consumer import FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse
from kafka.protocol.api_header import RequestHeader

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 19092
# Versions advertised: cap with env-like argv[2] "max" dict, e.g. "0:9,1:12"
CAPS = dict((int(k), int(v)) for k, v in (p.split(':') for p in sys.argv[2].split(','))) if len(sys.argv) > 2 and ':' in sys.argv[2] else {}
REJECT_API_VERSIONS_V3 = '--reject-v3' in sys.argv
REQS = {18: ApiVersionsRequest, 3: MetadataRequest, 0: ProduceRequest, 1: FetchRequest, 2: ListOffsetsRequest}
RESPS = {18: ApiVersionsResponse, 3: MetadataResponse, 0: ProduceResponse, 1: FetchResponse, 2: ListOffsetsResponse}
logs = {}  # (topic, partition) -> list of batch bytes with offsets
lock = threading.Lock()
UNKNOWN_TOPIC = 'missing-topic'

def flexible(key, v):
    return RESPS[key].flexible_version_q(v)

def batches_count(raw):
    n, pos, out = 0, 0, []
    while pos + 61 <= len(raw):
        size = struct.unpack('>i', raw[pos+8:pos+12])[0]
        cnt = struct.unpack('>i', raw[pos+57:pos+61])[0]
        out.append((raw[pos:pos+12+size], cnt)); pos += 12 + size
    return out

def handle(key, ver, req):
    R = RESPS[key]
    if key == 18:
        keys = [(k, 0, CAPS.get(k, RESPS[k].max_version)) for k in sorted(RESPS)]
        return R(error_code=0, api_keys=[R.ApiVersion(api_key=k, min_version=a, max_version=b) for k, a, b in keys], throttle_time_ms=0)
    if key == 3:
        names = [t.name for t in (req.topics or [])]
        tops = []
        for n in names:
            if n == UNKNOWN_TOPIC:
                tops.append(R.MetadataResponseTopic(error_code=3, name=n, is_internal=False, partitions=[]))
            else:
                tops.append(R.MetadataResponseTopic(error_code=0, name=n, is_internal=False, partitions=[
                    R.MetadataResponseTopic.MetadataResponsePartition(error_code=0, partition_index=p, leader_id=1, leader_epoch=0, replica_nodes=[1], isr_nodes=[1], offline_replicas=[]) for p in range(2)]))
        return R(throttle_time_ms=0, brokers=[R.MetadataResponseBroker(node_id=1, host='127.0.0.1', port=PORT, rack=None)], cluster_id='fake', controller_id=1, topics=tops)
    if key == 0:
        out = []
        for t in req.topic_data:
            parts = []
            for p in t.partition_data:
                base = 0
                with lock:
                    log = logs.setdefault((t.name, p.index), [])
                    base = sum(c for _, c in log)
                    off = base
                    for b, c in batches_count(bytes(p.records or b'')):
                        log.append((struct.pack('>q', off) + b[8:], c)); off += c
                parts.append(R.TopicProduceResponse.PartitionProduceResponse(index=p.index, error_code=0, base_offset=base, log_append_time_ms=-1, log_start_offset=0, record_errors=[], error_message=None))
            out.append(R.TopicProduceResponse(name=t.name, partition_responses=parts))
        if req.acks == 0:
            return None
        return R(responses=out, throttle_time_ms=0)
    if key == 2:
        out = []
        for t in req.topics:
            ps = []
            for p in t.partitions:
                with lock:
                    end = sum(c for _, c in logs.get((t.name, p.partition_index), []))
                off = 0 if p.timestamp == -2 else end
                ps.append(R.ListOffsetsTopicResponse.ListOffsetsPartitionResponse(partition_index=p.partition_index, error_code=0, old_style_offsets=[off], timestamp=-1, offset=off, leader_epoch=0))
            out.append(R.ListOffsetsTopicResponse(name=t.name, partitions=ps))
        return R(throttle_time_ms=0, topics=out)
    if key == 1:
        out = []
        for t in req.topics:
            ps = []
            for p in t.partitions:
                with lock:
                    log = logs.get((t.topic, p.partition), [])
                    recs, off, hw = b'', 0, sum(c for _, c in log)
                    for b, c in log:
                        if off + c > p.fetch_offset:
                            recs += b
                        off += c
                ps.append(R.FetchableTopicResponse.PartitionData(partition_index=p.partition, error_code=0, high_watermark=hw, last_stable_offset=hw, log_start_offset=0, aborted_transactions=None, preferred_read_replica=-1, records=recs))
            out.append(R.FetchableTopicResponse(topic=t.topic, partitions=ps))
        if all(not p.records for t in out for p in t.partitions):
            import time; time.sleep(min(req.max_wait_ms, 100) / 1000)
        return R(throttle_time_ms=0, error_code=0, session_id=0, responses=out)

def serve(conn):
    f = conn.makefile('rb')
    while True:
        h = f.read(4)
        if len(h) < 4:
            return
        data = f.read(struct.unpack('>i', h)[0])
        key, ver, corr = struct.unpack('>hhi', data[:8])
        if key == 18 and ver >= 3 and REJECT_API_VERSIONS_V3:
            body = struct.pack('>hih hh', 35, 1, 18, 0, 2)
            conn.sendall(struct.pack('>ii', 4 + len(body), corr) + body)
            continue
        if key not in REQS:
            print('unsupported api', key, ver, file=sys.stderr); return
        req = REQS[key].decode(data, version=ver, header=True)
        resp = handle(key, ver, req)
        if resp is None:
            continue
        body = resp.encode(version=ver)
        hdr = struct.pack('>i', corr) + (b'\x00' if key != 18 and flexible(key, ver) else b'')
        conn.sendall(struct.pack('>i', len(hdr) + len(body)) + hdr + body)

s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', PORT)); s.listen()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
