"""A minimal LSP client for tests: spawns `python -m cadenza.engine.cli lsp` and speaks
Content-Length framed JSON-RPC over its stdin/stdout. Every wait has a timeout, so a hung
server fails the test quickly instead of hanging CI."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TIMEOUT_S = 20.0

Message = dict[str, Any]


class ServerGoneError(AssertionError):
    pass


MODULE = (sys.executable, "-m", "cadenza.engine.cli")


class LspClient:
    def __init__(self, cwd: Path, cadenza: tuple[str, ...] = MODULE) -> None:
        self.proc = subprocess.Popen(
            [*cadenza, "lsp", "--stdio"],
            cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.inbox: queue.Queue[Message | None] = queue.Queue()
        self.notifications: list[Message] = []
        self.stderr: list[bytes] = []
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # ------------------------------------------------------------------ wire
    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                header = out.readline()
                if not header:
                    self.inbox.put(None)
                    return
                if header in (b"\r\n", b"\n"):
                    break
                name, _, value = header.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            assert length is not None, "a message without Content-Length"
            self.inbox.put(json.loads(out.read(length)))

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _send(self, message: Message) -> None:
        body = json.dumps(message).encode("utf-8")
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _next(self, deadline: float) -> Message:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the language server did not answer in time; stderr:\n"
                               f"{b''.join(self.stderr).decode(errors='replace')}")
        try:
            message = self.inbox.get(timeout=remaining)
        except queue.Empty:
            return self._next(deadline)
        if message is None:
            raise ServerGoneError("the language server closed its output; stderr:\n"
                             + b"".join(self.stderr).decode(errors="replace"))
        return message

    # ------------------------------------------------------------------ protocol
    def request(self, method: str, params: Any, timeout: float = TIMEOUT_S) -> Any:
        self.next_id += 1
        ident = self.next_id
        self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if message.get("id") == ident and "method" not in message:
                if "error" in message:
                    raise AssertionError(f"{method} failed: {message['error']}")
                return message.get("result")
            self._file(message)

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _file(self, message: Message) -> None:
        if "id" in message and "method" in message:  # a request from the server
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        else:
            self.notifications.append(message)

    def notification(self, method: str, timeout: float = TIMEOUT_S) -> Message:
        """The next notification the server sends with `method` (consumed)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, note in enumerate(self.notifications):
                if note.get("method") == method:
                    del self.notifications[i]
                    return note
            self._file(self._next(deadline))

    def diagnostics(self, uri: str, until: Callable[[list[Message]], bool] = lambda _: True,
                    timeout: float = TIMEOUT_S) -> list[Message]:
        """The diagnostics next published for `uri` that satisfy `until` (earlier ones that
        did not are consumed on the way)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, note in enumerate(self.notifications):
                params = note.get("params", {})
                if note.get("method") == "textDocument/publishDiagnostics" \
                        and params.get("uri") == uri:
                    del self.notifications[: i + 1]
                    if until(params["diagnostics"]):
                        return list(params["diagnostics"])
                    break
            else:
                self._file(self._next(deadline))

    # ------------------------------------------------------------------ lifecycle
    def initialize(self, root: Path, capabilities: Message | None = None) -> Any:
        result = self.request("initialize", {
            "processId": None, "rootUri": root.as_uri(), "capabilities": capabilities or {}})
        self.notify("initialized", {})
        return result

    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.resolve().as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "play", "version": 1,
            "text": path.read_text("utf-8") if text is None else text}})
        return uri

    def change(self, uri: str, text: str, version: int = 2) -> None:
        self.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"text": text}]})

    def close(self) -> int:
        try:
            self.request("shutdown", None, timeout=5)
            self.notify("exit", None)
            return self.proc.wait(timeout=5)
        except (TimeoutError, ServerGoneError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=5)
            return -1
        finally:
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
