"""A small OpenAI-compatible chat-completions server on loopback, for the language-model tests.

It serves canned answers at ``POST /v1/chat/completions`` and can be told to misbehave, one fault per
request, in the order given: rate limit with ``Retry-After``, server error, a response slower than
the client's timeout, a body that is not JSON, fewer choices than asked, a bad request. The real
``openai`` client talks to it over HTTP, so retries, parsing and headers are exercised for real.

Every served answer ends with a line ``answer-id: <k>`` (k counts up from 0), so a test can check
that each answer reached the cache exactly once.

Run it on its own (``python tests/lmm_server.py PORT``) for a subprocess test to talk to; it prints
its base URL and serves until killed.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
from typing import Sequence

RATE_LIMIT = "rate_limit"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
MALFORMED = "malformed"
FEWER = "fewer"
BAD_REQUEST = "bad_request"
NO_CHOICES = "no_choices"


class FakeLMMServer:
  """The server; use as a context manager or call ``start``/``stop``.

  Args:
    answers: canned answer texts, served in turn.
    faults: faults for the first requests, one per request: ``(RATE_LIMIT, retry_after_s)``,
      ``(SERVER_ERROR,)``, ``(TIMEOUT, delay_s)``, ``(MALFORMED,)``, ``(FEWER, k)``,
      ``(BAD_REQUEST,)``, ``(NO_CHOICES,)``; ``None`` for a normal response.
    max_n: the most choices one response carries (a server that caps or ignores ``n``).
    delay_s: seconds every normal response waits before it is sent (a slow model).
    port: 0 picks a free port.

  Attributes:
    requests: the JSON body of every request received, in order.
    headers: the headers of every request received.
    served: the number of answers served.
  """

  def __init__(self, answers: Sequence[str], *, faults: Sequence | None = None,
               max_n: int | None = None, delay_s: float = 0.0, port: int = 0):
    self.answers = list(answers)
    self.faults = list(faults or [])
    self.max_n = max_n
    self.delay_s = delay_s
    self.requests: list[dict] = []
    self.headers: list[dict] = []
    self.served = 0
    self._lock = threading.Lock()
    self._in_flight = 0
    self._last_start = time.monotonic()
    server = self

    class Handler(http.server.BaseHTTPRequestHandler):
      protocol_version = "HTTP/1.1"

      def log_message(self, *args):  # keep test output quiet
        pass

      def _send(self, status: int, body: bytes, headers: dict | None = None):
        try:
          self.send_response(status)
          self.send_header("Content-Type", "application/json")
          self.send_header("Content-Length", str(len(body)))
          for name, value in (headers or {}).items():
            self.send_header(name, value)
          self.end_headers()
          self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
          pass  # the client gave up (a timeout fault); nothing to do

      def do_POST(self):
        with server._lock:
          server._in_flight += 1
          server._last_start = time.monotonic()
        try:
          self._answer()
        finally:
          with server._lock:
            server._in_flight -= 1

      def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.endswith("/chat/completions"):
          self._send(404, b'{"error": {"message": "not found"}}')
          return
        try:
          body = json.loads(raw)
        except ValueError:
          self._send(400, b'{"error": {"message": "request body is not JSON"}}')
          return
        with server._lock:
          server.requests.append(body)
          server.headers.append(dict(self.headers))
          fault = server.faults.pop(0) if server.faults else None
        kind = fault[0] if fault else None
        if kind == RATE_LIMIT:
          self._send(429, b'{"error": {"message": "slow down", "type": "rate_limit"}}',
                     {"Retry-After": str(fault[1])})
          return
        if kind == SERVER_ERROR:
          self._send(500, b'{"error": {"message": "internal error"}}')
          return
        if kind == BAD_REQUEST:
          self._send(400, b'{"error": {"message": "bad request"}}')
          return
        if kind == MALFORMED:
          self._send(200, b'{"id": "x", "choices": [{"index": 0, "message": ')
          return
        if kind == TIMEOUT:
          time.sleep(fault[1])
        elif server.delay_s:
          time.sleep(server.delay_s)
        n = int(body.get("n") or 1)
        if server.max_n is not None:
          n = min(n, server.max_n)
        if kind == FEWER:
          n = min(n, fault[1])
        if kind == NO_CHOICES:
          n = 0
        with server._lock:
          first = server.served
          server.served += n
        choices = []
        for k in range(n):
          serial = first + k
          text = server.answers[serial % len(server.answers)] + f"\nanswer-id: {serial}"
          choices.append({"index": k, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": text}})
        payload = {
            "id": f"chatcmpl-{first}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"), "choices": choices,
            "usage": {"prompt_tokens": 100, "completion_tokens": 10 * n,
                      "total_tokens": 100 + 10 * n},
        }
        self._send(200, json.dumps(payload).encode())

    self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    self._httpd.daemon_threads = True
    self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                    daemon=True)

  @property
  def base_url(self) -> str:
    return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

  def wait_until_idle(self, quiet_s: float = 0.3, timeout_s: float = 60.0) -> None:
    """Returns once no request has been in progress or started for ``quiet_s`` seconds (e.g. a
    killed client's last requests are answered); raises TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
      with self._lock:
        idle = self._in_flight == 0 and time.monotonic() - self._last_start >= quiet_s
      if idle:
        return
      time.sleep(0.02)
    raise TimeoutError(f"the fake server still busy after {timeout_s} s")

  def start(self) -> FakeLMMServer:
    self._thread.start()
    return self

  def stop(self) -> None:
    self._httpd.shutdown()
    self._httpd.server_close()

  def __enter__(self) -> FakeLMMServer:
    return self.start()

  def __exit__(self, *exc) -> None:
    self.stop()


if __name__ == "__main__":
  with FakeLMMServer(["| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hand | back |"],
                     port=int(sys.argv[1]) if len(sys.argv) > 1 else 0) as running:
    print(running.base_url, flush=True)
    while True:
      time.sleep(3600)
