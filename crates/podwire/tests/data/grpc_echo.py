#!/usr/bin/env python3
"""A gRPC server and client for the lab test (`tests/it/protocols.rs`).

    grpc_echo.py serve ADDR PORT    # serves lab.Echo for at most 120 s
    grpc_echo.py call ADDR PORT     # one connection, calls in two phases

Generic handlers with bytes serializers: no .proto to compile. The client
makes one Unary call, prints `ready`, waits for a line on standard input,
then makes the calls of phase two on the same connection and prints one
JSON line per call: {"method", "code" (the gRPC status number), "sent",
"received"} (messages each way), then `done`.
"""
import json
import sys
import time
from concurrent import futures

import grpc

SERVICE = "lab.Echo"


def unary(request, context):
    if request == b"fail":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: caf\u00e9 50%")
    return b"echo:" + request


def server_stream(request, context):
    for i in range(int(request.decode() or "5")):
        yield b"part %d" % i


def client_stream(request_iterator, context):
    return b"got %d bytes" % len(b"".join(request_iterator))


def bidi(request_iterator, context):
    for r in request_iterator:
        yield b"re:" + r


def serve(addr, port):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    })
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"{addr}:{port}")
    server.start()
    server.wait_for_termination(timeout=120)


def report(method, code, sent, received):
    print(json.dumps({"method": method, "code": code, "sent": sent, "received": received}), flush=True)


def call(addr, port):
    with grpc.insecure_channel(f"{addr}:{port}") as ch:
        path = lambda m: f"/{SERVICE}/{m}"
        ch.unary_unary(path("Unary"))(b"warm-up", timeout=10)
        print("ready", flush=True)
        sys.stdin.readline()
        ch.unary_unary(path("Unary"))(b"hello", timeout=10)
        report("Unary", 0, 1, 1)
        try:
            ch.unary_unary(path("Unary"))(b"fail", timeout=10)
            report("Unary", 0, 1, 1)
        except grpc.RpcError as e:
            report("Unary", e.code().value[0], 1, 0)
        got = list(ch.unary_stream(path("ServerStream"))(b"5", timeout=10))
        report("ServerStream", 0, 1, len(got))
        ch.stream_unary(path("ClientStream"))(iter([b"a", b"bb", b"ccc", b"dddd"]), timeout=10)
        report("ClientStream", 0, 4, 1)
        got = list(ch.stream_stream(path("Bidi"))(iter([b"x", b"y", b"z"]), timeout=10))
        report("Bidi", 0, 3, len(got))
        time.sleep(0.2)
    print("done", flush=True)


if __name__ == "__main__":
    {"serve": serve, "call": call}[sys.argv[1]](sys.argv[2], int(sys.argv[3]))
