#!/usr/bin/env python3
"""A small gRPC server and client for the parser's test captures.

    grpc_lab.py serve PORT      # serves lab.Echo until killed
    grpc_lab.py call PORT       # makes the calls below, in order
    grpc_lab.py call-large PORT # messages larger than 16384 bytes each way

Generic handlers with bytes serializers: no .proto needed. Calls, one per
HTTP/2 stream on one connection: Unary ok, Unary failing (NOT_FOUND with a
message that needs percent-encoding), ServerStream (5 responses),
ClientStream (4 requests), Bidi (3 each way), and a ServerStream the
client cancels after 2 responses (RST_STREAM).

`call-large` sends messages longer than HTTP/2's default frame size: gRPC's
C core raises SETTINGS_MAX_FRAME_SIZE to 4 MiB on both sides, and sends
each message in one DATA frame. Its server sends its SETTINGS as soon as
the connection is accepted, before the client's preface. Calls: Unary with
a 20000-byte request, ClientStream of 18000, 0 and 100 bytes, Bidi with
one 17000-byte message.
"""
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
    n = int(request.decode() or "5")
    for i in range(n):
        yield b"part %d" % i
        if n > 5:
            time.sleep(0.05)


def client_stream(request_iterator, context):
    total = b"".join(request_iterator)
    return b"got %d bytes" % len(total)


def bidi(request_iterator, context):
    for r in request_iterator:
        yield b"re:" + r


def serve(port):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    })
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination(timeout=60)


def call(port):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        path = lambda m: f"/{SERVICE}/{m}"
        print(ch.unary_unary(path("Unary"))(b"hello", timeout=5))
        try:
            ch.unary_unary(path("Unary"))(b"fail", timeout=5)
        except grpc.RpcError as e:
            print(e.code(), e.details())
        print(list(ch.unary_stream(path("ServerStream"))(b"5", timeout=5)))
        print(ch.stream_unary(path("ClientStream"))(iter([b"a", b"bb", b"ccc", b"dddd"]), timeout=5))
        print(list(ch.stream_stream(path("Bidi"))(iter([b"x", b"y", b"z"]), timeout=5)))
        it = ch.unary_stream(path("ServerStream"))(b"50", timeout=5)
        got = [next(it), next(it)]
        it.cancel()
        print("cancelled after", got)
        time.sleep(0.2)


def call_large(port):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        path = lambda m: f"/{SERVICE}/{m}"
        print(len(ch.unary_unary(path("Unary"))(b"u" * 20000, timeout=5)))
        print(ch.stream_unary(path("ClientStream"))(iter([b"c" * 18000, b"", b"d" * 100]), timeout=5))
        print([len(r) for r in ch.stream_stream(path("Bidi"))(iter([b"b" * 17000]), timeout=5)])


if __name__ == "__main__":
    {"serve": serve, "call": call, "call-large": call_large}[sys.argv[1]](int(sys.argv[2]))
