"""A small WebSocket client (RFC 6455) for the load tests: text messages, ping/pong, close.

Standard library only, on plain sockets, so under Locust (which patches `socket` with gevent)
every simulated user waits cooperatively. Enough for `/ws` and `/ws/{id}`: no extensions,
no compression, client frames masked as the RFC requires.
"""

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
from urllib.parse import urlsplit

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(Exception):
    """The handshake was refused or the stream broke the protocol."""


class HandshakeRefused(WebSocketError):
    """The server answered the upgrade with an HTTP status other than 101."""

    def __init__(self, status, body):
        super().__init__(f"upgrade refused with HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


class Closed(WebSocketError):
    """The server closed the connection (a close frame, or EOF)."""


def websocket_url(http_base, path):
    """`http://host:port` + `/ws` -> `ws://host:port/ws` (https -> wss)."""
    parts = urlsplit(http_base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{path}"


class WebSocket:
    def __init__(self, url, headers=None, timeout=30.0):
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        sock = socket.create_connection((parts.hostname, port), timeout=timeout)
        if secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        self._sock = sock
        self._buffer = b""
        self._handshake(parts, headers or {})

    def _handshake(self, parts, headers):
        key = base64.b64encode(os.urandom(16)).decode()
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        status = int(status_line.split()[1])
        answer = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            answer[name.strip().lower()] = value.strip()
        if status != 101:
            length = int(answer.get("content-length", "0") or 0)
            body = self._read_exactly(length) if length else b""
            self._sock.close()
            raise HandshakeRefused(status, body.decode(errors="replace"))
        expected = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        if answer.get("sec-websocket-accept") != expected:
            raise WebSocketError("bad Sec-WebSocket-Accept in the upgrade answer")

    def _read_until(self, marker):
        while marker not in self._buffer:
            self._fill()
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read_exactly(self, count):
        while len(self._buffer) < count:
            self._fill()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _fill(self):
        chunk = self._sock.recv(65536)
        if not chunk:
            raise Closed("connection closed by the server")
        self._buffer += chunk

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._sock.sendall(header + mask + masked)

    def _read_frame(self):
        first, second = self._read_exactly(2)
        fin, opcode = first & 0x80, first & 0x0F
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exactly(8))
        if second & 0x80:
            raise WebSocketError("the server masked a frame")
        return bool(fin), opcode, self._read_exactly(length)

    def send_json(self, value):
        self._send_frame(OP_TEXT, json.dumps(value).encode())

    def recv_json(self):
        """The next text message, parsed; answers pings on the way; `Closed` at the end."""
        message, message_opcode = b"", None
        while True:
            fin, opcode, payload = self._read_frame()
            if opcode == OP_PING:
                self._send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(f"closed by the server (code {code})")
            if opcode != OP_CONTINUATION:
                message_opcode = opcode
            message += payload
            if fin:
                if message_opcode != OP_TEXT:
                    raise WebSocketError(f"expected a text message, got opcode {message_opcode}")
                return json.loads(message)

    def close(self):
        try:
            self._send_frame(OP_CLOSE, struct.pack("!H", 1000))
        except OSError:
            pass
        self._sock.close()
