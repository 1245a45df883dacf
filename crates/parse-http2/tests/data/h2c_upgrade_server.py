#!/usr/bin/env python3
"""A minimal h2c server that accepts `Upgrade: h2c` (RFC 7540 section 3.2),
for the parser's upgrade capture (nghttpd answers with HTTP/2 right away).

    h2c_upgrade_server.py PORT    # serves one connection, then exits

Answers the upgraded request on stream 1 and any later request with a
small text body. Needs the Python `h2` package.
"""
import socket
import sys

import h2.config
import h2.connection
import h2.events


def respond(conn, stream_id, path):
    body = f"you asked for {path}\n".encode()
    conn.send_headers(stream_id, [(":status", "200"), ("content-type", "text/plain"),
                                  ("content-length", str(len(body)))])
    conn.send_data(stream_id, body, end_stream=True)


def main(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    srv.settimeout(30)
    sock, _ = srv.accept()
    sock.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = sock.recv(65536)
        if not chunk:
            return
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    settings = next(l.split(":", 1)[1].strip() for l in lines
                    if l.lower().startswith("http2-settings:"))
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_upgrade_connection(settings)
    respond(conn, 1, path)
    sock.sendall(conn.data_to_send())
    data = rest
    while True:
        for event in conn.receive_data(data) if data else []:
            if isinstance(event, h2.events.RequestReceived):
                hdrs = dict(event.headers)
                respond(conn, event.stream_id, hdrs[b":path"].decode())
            elif isinstance(event, h2.events.ConnectionTerminated):
                sock.sendall(conn.data_to_send())
                return
        sock.sendall(conn.data_to_send())
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return
        if not data:
            return


if __name__ == "__main__":
    main(int(sys.argv[1]))
