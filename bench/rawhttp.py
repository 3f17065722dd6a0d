"""A minimal HTTP/1.1 keep-alive client for the load phases.

On 2 CPUs the load generator competes with the platform it measures: httpx spends about a
millisecond of CPU per request, this about a tenth of that. Only what the load needs:
requests with a JSON body, responses with Content-Length or chunked bodies.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any


class Response:
    __slots__ = ("body", "status_code")

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.last_used = time.monotonic()

    async def exchange(self, request: bytes) -> tuple[Response, bool]:
        """The response, and whether the connection may be reused."""
        self.writer.write(request)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            body = b"".join(parts)
        else:
            body = await self.reader.readexactly(length) if length else b""
        return Response(status, body), not close

    def close(self) -> None:
        self.writer.close()


IDLE_SECONDS = 3.0  # a kept-alive connection idle longer is not reused (uvicorn closes them after 5 s)


class Client:
    """Keep-alive connections to one server, opened as needed up to ``max_connections``."""

    def __init__(self, host: str, port: int, max_connections: int = 256) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self._idle: list[Connection] = []
        self._open = 0
        self._freed = asyncio.Condition()

    async def _acquire(self) -> Connection:
        async with self._freed:
            while not self._idle and self._open >= self.max_connections:
                await self._freed.wait()
            while self._idle:
                conn = self._idle.pop()
                if time.monotonic() - conn.last_used < IDLE_SECONDS:
                    return conn
                conn.close()  # the server may have closed it already (uvicorn: idle 5 s): not reused
                self._open -= 1
            self._open += 1
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except BaseException:
            async with self._freed:
                self._open -= 1
                self._freed.notify()
            raise
        return Connection(reader, writer)

    async def _release(self, conn: Connection | None) -> None:
        async with self._freed:
            if conn is None:
                self._open -= 1
            else:
                conn.last_used = time.monotonic()
                self._idle.append(conn)
            self._freed.notify()

    async def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Response:
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(payload)}"]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        conn = await self._acquire()
        try:
            response, reusable = await conn.exchange(request)
        except BaseException:
            conn.close()
            await self._release(None)
            raise
        if not reusable:
            conn.close()
        await self._release(conn if reusable else None)
        return response

    async def post(self, path: str, json: Any, headers: dict[str, str] | None = None) -> Response:
        return await self.request("POST", path, json, headers)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return await self.request("GET", path, None, headers)

    async def aclose(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
