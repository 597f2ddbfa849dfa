"""A scripted LLM server on loopback that speaks the providers' wire formats.

The real SDK clients talk to it through their base URL: Anthropic's messages endpoint
(``POST /v1/messages``) and OpenAI's chat completions (``POST /v1/chat/completions``).
Answers are scripted per user message (the last one of the request), in order, the last
reply repeating; errors (any status, with a retry-after), hangs and slow answers
included. Every request is recorded for the tests to inspect.

    with LLMServer() as server:
        server.script("Hi", answer("Hello!"), error(500), answer("Hello again"))
        client = anthropic.Anthropic(base_url=server.url, api_key="test")
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Reply:
    text: str = "OK"
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    input_tokens: int | None = None  # None: a word count of the request
    output_tokens: int | None = None  # None: a word count of the answer


def answer(text: str, *, delay: float = 0.0, input_tokens: int | None = None,
           output_tokens: int | None = None) -> Reply:  # fmt: skip
    return Reply(text, delay_s=delay, input_tokens=input_tokens, output_tokens=output_tokens)


def error(status: int, message: str = "server error", *, retry_after: float | None = None) -> Reply:
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
    return Reply(message, status=status, headers=headers)


def hang(seconds: float) -> Reply:
    """No answer for ``seconds``: longer than the client's timeout, it is a timeout."""
    return Reply("too late", delay_s=seconds)


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    wire: str  # "anthropic" or "openai"
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.body.get("model"))

    @property
    def system(self) -> str:
        if self.wire == "anthropic":
            return str(self.body.get("system") or "")
        messages = self.body.get("messages") or []
        return "".join(m["content"] for m in messages if m.get("role") == "system")

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages") or []
        return [m for m in messages if m.get("role") != "system"]

    @property
    def last_user(self) -> str:
        users = [m for m in self.messages if m.get("role") == "user"]
        content = users[-1]["content"] if users else ""
        if isinstance(content, list):  # content blocks
            return "".join(block.get("text", "") for block in content)
        return str(content)

    @property
    def api_key(self) -> str | None:
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") or None


Responder = Callable[[Seen], Reply]


class LLMServer:
    def __init__(self, responder: Responder | None = None, *, required_key: str | None = None):
        self.requests: list[Seen] = []
        self.required_key = required_key
        self._responder = responder
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._active = 0
        self.max_active = 0  # the most requests served at once
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                server._handle(self)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default 5 refuses a burst of concurrent calls

        self._http = Server(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL for the Anthropic SDK (it adds /v1/messages)."""
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_url(self) -> str:
        """Base URL for the OpenAI SDK (it adds /chat/completions)."""
        return self.url + "/v1"

    def start(self) -> LLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def script(self, user_message: str, *replies: Reply) -> None:
        """Answer ``user_message`` with ``replies`` in turn; the last one repeats."""
        with self._lock:
            self._scripts[user_message] = list(replies)

    def requests_for(self, user_message: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.requests if seen.last_user == user_message]

    def _next_reply(self, seen: Seen) -> Reply:
        with self._lock:
            queue = self._scripts.get(seen.last_user)
            if queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        if self._responder is not None:
            return self._responder(seen)
        return Reply("OK")

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        path = handler.path.split("?")[0]
        if path.endswith("/v1/messages"):
            wire = "anthropic"
        elif path.endswith("/chat/completions"):
            wire = "openai"
        else:
            self._send(handler, 404, {"error": {"message": f"no route {path}"}}, {})
            return
        headers = {key.lower(): value for key, value in handler.headers.items()}
        seen = Seen(wire, path, headers, body)
        with self._lock:
            self.requests.append(seen)
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            if self.required_key is not None and seen.api_key != self.required_key:
                # Echo the key back like some servers do: clients must scrub it.
                message = f"invalid x-api-key: {seen.api_key}"
                self._send(handler, 401, _error_body(wire, message, "authentication_error"), {})
                return
            reply = self._next_reply(seen)
            if reply.delay_s and self._stopping.wait(reply.delay_s):
                return
            if reply.status != 200:
                body_out = _error_body(wire, reply.text, _error_type(reply.status))
                self._send(handler, reply.status, body_out, reply.headers)
                return
            self._send(handler, 200, _answer_body(wire, seen, reply), reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): nothing to answer
        finally:
            with self._lock:
                self._active -= 1

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()


_ids = itertools.count(1)


def _words(text: str) -> int:
    return len(text.split())


def _answer_body(wire: str, seen: Seen, reply: Reply) -> dict[str, Any]:
    prompt_words = _words(seen.system) + sum(_words(str(m.get("content"))) for m in seen.messages)
    input_tokens = reply.input_tokens if reply.input_tokens is not None else prompt_words
    output_tokens = reply.output_tokens if reply.output_tokens is not None else _words(reply.text)
    number = next(_ids)
    if wire == "anthropic":
        return {
            "id": f"msg_{number:06d}",
            "type": "message",
            "role": "assistant",
            "model": seen.model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
    return {
        "id": f"chatcmpl-{number:06d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": seen.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    }


def _error_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error")


def _error_body(wire: str, message: str, kind: str) -> dict[str, Any]:
    if wire == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": None}}
