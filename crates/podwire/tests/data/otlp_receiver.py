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

Usage: otlp_receiver.py --out FILE --port-file FILE [--port N] [--mode MODE]
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--mode", default="ok")
    a = p.parse_args()
    State.out = open(a.out, "a", encoding="utf-8")
    State.mode = a.mode
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((a.addr, a.port), Handler)
    with open(a.port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    import os
    os.replace(a.port_file + ".tmp", a.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
