"""Exit 0 when the Kafka broker at HOST:PORT answers a Metadata request listing itself.

Standard library only (runs before or without .venv): Metadata v4 with the v1 request header,
all topics (null array); the answer must carry at least one broker.
Usage: python3 ready.py HOST PORT [TIMEOUT_SECONDS]
"""

import socket
import struct
import sys


def metadata_ok(host: str, port: int, timeout: float) -> bool:
    client_id = b"kinerja-ready"
    body = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id
    body += struct.pack(">i?", -1, False)  # topics: null (= all), allow_auto_topic_creation
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        head = _recv(sock, 4)
        (size,) = struct.unpack(">i", head)
        resp = _recv(sock, size)
    correlation_id, _throttle, brokers = struct.unpack(">iii", resp[:12])
    return correlation_id == 1 and brokers >= 1


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


if __name__ == "__main__":
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    try:
        ok = metadata_ok(sys.argv[1], int(sys.argv[2]), timeout)
    except (OSError, struct.error):
        ok = False
    sys.exit(0 if ok else 1)
