"""A minimal asyncio websocket client (RFC 6455), enough to watch ``/ws/sync/<run_id>/`` like a page does.

The project adds no dependency for the harness (``websockets`` is not
installed), and a client written on ``asyncio.Protocol`` timestamps a
message in ``data_received``, the earliest moment Python can see it: the
receipt time of a message is ``time.time()`` when the chunk that completed
it arrived (wall clock, comparable with the publisher's on the same machine).

Only what the harness needs: the opening handshake with a session cookie
and an Origin, text and binary messages (fragmented or not), ping/pong,
and the closing handshake (the close code is kept: 4401/4403 mean the
socket was refused).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SEQ = re.compile(rb'data-seq="(\d+)"')
RUN = re.compile(rb'data-run="(\d+)"')
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeFailed(RuntimeError):
    pass


def _frame(opcode: int, payload: bytes = b"") -> bytes:
    """A final, masked frame (a client must mask every frame it sends)."""
    header = bytearray([0x80 | opcode])
    length = len(payload)
    if length < 126:
        header.append(0x80 | length)
    elif length < 1 << 16:
        header.append(0x80 | 126)
        header += struct.pack("!H", length)
    else:
        header.append(0x80 | 127)
        header += struct.pack("!Q", length)
    mask = os.urandom(4)
    header += mask
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes(header) + masked


class SyncSocket(asyncio.Protocol):
    """One client socket on a run's progress; records the first receipt time of every ``data-seq``.

    ``receipts`` maps seq -> wall-clock seconds of the first message carrying it;
    ``messages`` counts every message (snapshots, events, repeats).
    """

    def __init__(self, key: str):
        self.key = key
        self.transport = None
        self.buffer = bytearray()
        self.handshaken = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.upgraded = False
        self.fragments: list[bytes] = []
        self.fragment_opcode = OP_TEXT
        self.receipts: dict[int, float] = {}
        self.first_seq: int | None = None
        self.messages = 0
        self.sizes = 0
        self.runs: set[int] = set()
        self.close_code: int | None = None

    # --- asyncio.Protocol -------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes):
        now = time.time()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = bytes(self.buffer[:end]), self.buffer[end + 4 :]
            try:
                self._check_handshake(head)
            except HandshakeFailed as exc:
                if not self.handshaken.done():
                    self.handshaken.set_exception(exc)
                self.transport.close()
                return
            self.upgraded = True
            self.handshaken.set_result(True)
        self._frames(now)

    def connection_lost(self, exc):
        if not self.handshaken.done():
            self.handshaken.set_exception(HandshakeFailed(f"connection lost during the handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    # --- protocol -----------------------------------------------------------
    def _check_handshake(self, head: bytes):
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise HandshakeFailed(f"no upgrade: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        expected = base64.b64encode(hashlib.sha1((self.key + GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise HandshakeFailed("bad Sec-WebSocket-Accept")

    def _frames(self, now: float):
        buffer = self.buffer
        while True:
            if len(buffer) < 2:
                return
            b0, b1 = buffer[0], buffer[1]
            fin, opcode, masked, length = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = struct.unpack_from("!H", buffer, 2)[0]
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = struct.unpack_from("!Q", buffer, 2)[0]
                offset = 10
            mask = None
            if masked:  # servers do not mask; tolerated anyway
                if len(buffer) < offset + 4:
                    return
                mask = bytes(buffer[offset : offset + 4])
                offset += 4
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset : offset + length])
            del buffer[: offset + length]
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            self._on_frame(fin, opcode, payload, now)

    def _on_frame(self, fin, opcode, payload: bytes, now: float):
        if opcode == OP_PING:
            self.transport.write(_frame(OP_PONG, payload))
        elif opcode == OP_PONG:
            pass
        elif opcode == OP_CLOSE:
            if len(payload) >= 2:
                self.close_code = struct.unpack("!H", payload[:2])[0]
            if not self.transport.is_closing():
                self.transport.write(_frame(OP_CLOSE, payload[:2]))
                self.transport.close()
        elif opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            if opcode != OP_CONT:
                self.fragment_opcode = opcode
                self.fragments = []
            self.fragments.append(payload)
            if fin:
                message, self.fragments = b"".join(self.fragments), []
                self._on_message(message, now)

    def _on_message(self, message: bytes, now: float):
        self.messages += 1
        self.sizes += len(message)
        found = SEQ.search(message)
        if found is None:
            return
        seq = int(found.group(1))
        run = RUN.search(message)
        if run is not None:
            self.runs.add(int(run.group(1)))
        if self.first_seq is None:
            self.first_seq = seq
        self.receipts.setdefault(seq, now)

    # --- API ------------------------------------------------------------------
    async def close(self, timeout: float = 5.0):
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_frame(OP_CLOSE, struct.pack("!H", 1000)))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            self.transport.close()


async def connect(host: str, port: int, path: str, *, cookie: str = "", origin: str = "", timeout: float = 30.0):
    """Open a websocket to ``ws://host:port/path``; returns the connected SyncSocket."""
    loop = asyncio.get_running_loop()
    key = base64.b64encode(os.urandom(16)).decode()
    transport, protocol = await asyncio.wait_for(loop.create_connection(lambda: SyncSocket(key), host, port), timeout)
    request = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        request.append(f"Origin: {origin}")
    if cookie:
        request.append(f"Cookie: {cookie}")
    transport.write(("\r\n".join(request) + "\r\n\r\n").encode("latin-1"))
    try:
        await asyncio.wait_for(protocol.handshaken, timeout)
    except BaseException:
        transport.close()
        raise
    return protocol


async def connect_many(
    count: int, host: str, port: int, path: str, *, cookie: str, origin: str, parallel: int = 20, wait: float = 60
):
    """``count`` sockets on the same path, ``parallel`` handshakes at a time, each waiting for its snapshot.

    A socket the server closes, or that gets no snapshot within ``wait`` seconds, is returned as it
    is (``close_code`` set, ``first_seq`` None): the caller counts it. Only a refused handshake raises.
    """
    semaphore = asyncio.Semaphore(parallel)

    async def one():
        async with semaphore:
            socket = await connect(host, port, path, cookie=cookie, origin=origin)
            deadline = time.monotonic() + wait
            while socket.first_seq is None and socket.close_code is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return socket

    return await asyncio.gather(*(one() for _ in range(count)))
