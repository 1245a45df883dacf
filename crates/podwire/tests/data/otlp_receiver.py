#!/usr/bin/env python3
"""A test OTLP/HTTP receiver built from the official protocol definitions.

Decodes each POST on /v1/traces, /v1/metrics and /v1/logs with the
generated messages of PyPI's `opentelemetry-proto` (gzip bodies too) and
appends one JSON line per request to --out:

    {"signal": "traces", "status": 200, "bytes": N, "request": {...}}

`request` is `google.protobuf.json_format.MessageToDict` of the export
request with proto field names (64-bit integers come as strings, bytes as
base64). A body that does not decode is answered 400 and logged with
"error". POST /control with a body of `ok`, `503`, `429` or `discard`
changes how later exports are answered (`discard`: decoded, answered 200,
nothing written; `drop`: answered 200 unread, for benchmarks);
exports answered with an error status are logged without their content.
The listening port is written to --port-file once it listens.

With --grpc it serves OTLP/gRPC instead: the collector services of
`opentelemetry-proto`'s generated `*_service_pb2_grpc` modules on grpcio,
logging the same lines (status 200 for an accepted export, else the gRPC
code's name; `headers` from the call's metadata).
Its --mode is fixed at start: `ok`; `unavailable-once` (each signal's
first export answered UNAVAILABLE, a retryable code); `exhausted`
(RESOURCE_EXHAUSTED without RetryInfo: not retryable); `exhausted-retry`
(the first export RESOURCE_EXHAUSTED with RetryInfo of 1 s, retryable);
`drop` (answered OK, not logged, for benchmarks; grpcio still decodes).

Usage: otlp_receiver.py --out FILE --port-file FILE [--port N] [--mode MODE] [--grpc]
"""

import argparse
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

MESSAGES = {
    "/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceRequest),
    "/v1/metrics": ("metrics", metrics_service_pb2.ExportMetricsServiceRequest),
    "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest),
}
RESPONSES = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}


class State:
    mode = "ok"
    lock = threading.Lock()
    out = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", ctype="application/x-protobuf", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def write(self, line):
        with State.lock:
            State.out.write(json.dumps(line) + "\n")
            State.out.flush()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path == "/control":
            State.mode = body.decode().strip()
            self.answer(200, b"ok", "text/plain")
            return
        if self.path not in MESSAGES:
            self.answer(404, b"", "text/plain")
            return
        signal, message = MESSAGES[self.path]
        mode = State.mode
        if mode == "drop":
            self.answer(200, RESPONSES[signal]().SerializeToString())
            return
        if mode in ("503", "429"):
            self.write({"signal": signal, "status": int(mode), "bytes": length})
            self.answer(int(mode), b"", "text/plain", [("Retry-After", "1")])
            return
        try:
            if self.headers.get("Content-Encoding", "") == "gzip":
                body = gzip.decompress(body)
            if self.headers.get("Content-Type") != "application/x-protobuf":
                raise ValueError("content type " + str(self.headers.get("Content-Type")))
            req = message()
            req.ParseFromString(body)
        except Exception as e:  # noqa: BLE001 - any failure is the test's answer
            self.write({"signal": signal, "status": 400, "error": str(e)})
            self.answer(400, str(e).encode(), "text/plain")
            return
        if mode != "discard":
            self.write({
                "signal": signal,
                "status": 200,
                "bytes": length,
                "headers": {k.lower(): v for k, v in self.headers.items()
                            if k.lower() in ("authorization", "x-tenant", "content-encoding")},
                "request": MessageToDict(req, preserving_proto_field_name=True),
            })
        self.answer(200, RESPONSES[signal]().SerializeToString())


def retry_info_details(seconds):
    """google.rpc.Status{code: 8, details: [Any(RetryInfo{retry_delay:
    {seconds}})]}, hand-encoded (googleapis' protos are not installed)."""
    def field(num, payload):
        return bytes([num << 3 | 2, len(payload)]) + payload
    duration = bytes([0x08, seconds])
    any_msg = field(1, b"type.googleapis.com/google.rpc.RetryInfo") + field(2, field(1, duration))
    return bytes([0x08, 8]) + field(3, any_msg)


def serve_grpc(a):
    from concurrent import futures
    import grpc
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    seen = set()
    seen_lock = threading.Lock()

    def write(line):
        with State.lock:
            State.out.write(json.dumps(line) + "\n")
            State.out.flush()

    def export(signal, request, context):
        with seen_lock:
            first = signal not in seen
            seen.add(signal)
        mode = State.mode
        if mode == "drop":
            return RESPONSES[signal]()
        if mode == "exhausted" or (mode == "exhausted-retry" and first):
            write({"signal": signal, "status": "RESOURCE_EXHAUSTED"})
            if mode == "exhausted-retry":
                context.set_trailing_metadata((("grpc-status-details-bin", retry_info_details(1)),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "try later")
        if mode == "unavailable-once" and first:
            write({"signal": signal, "status": "UNAVAILABLE"})
            context.abort(grpc.StatusCode.UNAVAILABLE, "starting")
        meta = dict(context.invocation_metadata())
        write({
            "signal": signal,
            "status": 200,
            "bytes": request.ByteSize(),
            "headers": {k: v for k, v in meta.items()
                        if k in ("authorization", "x-tenant")},
            "request": MessageToDict(request, preserving_proto_field_name=True),
        })
        return RESPONSES[signal]()

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            return export("traces", request, context)

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):
            return export("metrics", request, context)

    class Logs(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, request, context):
            return export("logs", request, context)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    port = server.add_insecure_port(f"{a.addr}:{a.port}")
    server.start()
    return server, port


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--mode", default="ok")
    p.add_argument("--grpc", action="store_true")
    a = p.parse_args()
    State.out = open(a.out, "a", encoding="utf-8")
    State.mode = a.mode
    if a.grpc:
        server, port = serve_grpc(a)
    else:
        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer((a.addr, a.port), Handler)
        port = server.server_address[1]
    with open(a.port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(port))
    import os
    os.replace(a.port_file + ".tmp", a.port_file)
    try:
        if a.grpc:
            server.wait_for_termination()
        else:
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
