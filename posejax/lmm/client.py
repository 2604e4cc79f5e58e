"""Sampling answers through the ``openai`` client, from OpenAI or any compatible server.

``LMMClient`` sends chat-completion requests with ``n`` samples and retries what is worth retrying:

* rate limits (HTTP 429), honouring the server's ``Retry-After`` (or ``retry-after-ms``) header;
* server errors (5xx) and the transient 408 / 409;
* timeouts and dropped connections;
* malformed responses (a body that is not JSON, or JSON without the expected choices).

Waits grow exponentially (capped at ``backoff_max_s``), jittered so that parallel workers do not
retry in lock-step; the ``openai`` client's own retries are off. Other errors (bad request,
authentication, unknown model) raise ``LMMError`` at once. Servers that return fewer choices than
``n`` are asked again for the rest; one that rejects ``n > 1`` (HTTP 400) gets one per request.

The API key is read from an environment variable when the client is made and kept only by the
``openai`` client (never logged, in a ``repr`` or cached); with ``base_url`` set and no key, a
placeholder is sent. ``openai`` is imported only when a client is made.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import os
import random
import threading
import time
from typing import Callable

from posejax.errors import LMMError
from posejax.lmm.cache import SamplingSettings

_RETRIED_STATUS = frozenset({408, 409, 429})


@dataclasses.dataclass(frozen=True)
class ClientConfig:
  """How to reach the server and how hard to try."""

  base_url: str | None = None  # an OpenAI-compatible endpoint ("http://localhost:8000/v1")
  api_key_env: str = "OPENAI_API_KEY"  # the environment variable that holds the API key
  timeout_s: float = 120.0  # per request
  max_attempts: int = 6  # tries per request, the first included, before LMMError
  backoff_initial_s: float = 1.0  # the first retry's wait, before jitter
  backoff_max_s: float = 60.0  # the longest wait between tries, before jitter
  retry_after_max_s: float = 300.0  # the longest Retry-After honoured
  max_n_per_request: int = 20
  # "max_tokens" (compatible servers, older OpenAI models) or "max_completion_tokens" (newer
  # OpenAI models, which refuse the old name).
  max_tokens_field: str = "max_tokens"


@dataclasses.dataclass(frozen=True)
class Choice:
  """One sampled answer."""

  text: str  # "" when the server sent no content; a refusal's text when it sent one
  finish_reason: str | None  # "stop", "length", "content_filter", ...


@dataclasses.dataclass(frozen=True)
class Completion:
  """The result of one successful request."""

  choices: tuple[Choice, ...]  # possibly fewer than asked
  prompt_tokens: int  # billed for the request (0 when the server did not say)
  completion_tokens: int  # billed for all choices together
  attempts: int  # tries the request took (1: no retry)


class _Retryable(Exception):
  def __init__(self, kind: str, detail: str, retry_after: float | None = None):
    super().__init__(f"{kind}: {detail}")
    self.kind = kind
    self.retry_after = retry_after


def _retry_after_seconds(headers) -> float | None:
  if headers is None:
    return None
  millis = headers.get("retry-after-ms")
  if millis is not None:
    try:
      return max(0.0, float(millis) / 1000.0)
    except ValueError:
      pass
  value = headers.get("retry-after")
  if value is None:
    return None
  try:
    return max(0.0, float(value))
  except ValueError:
    pass
  try:
    when = email.utils.parsedate_to_datetime(value)
  except (TypeError, ValueError):
    return None
  if when is None:
    return None
  return max(0.0, when.timestamp() - time.time())


class LMMClient:
  """A thread-safe client that samples answers with retries and counts usage.

  Args:
    config: the server and retry settings.
    sleep: the function used to wait between tries (tests pass a recorder).
    seed: seeds the jitter, for reproducible waits in tests.

  Attributes:
    stats: running totals, a dict with ``requests``, ``attempts``, ``retries`` (by kind),
      ``prompt_tokens``, ``completion_tokens`` and ``answers``.
  """

  def __init__(self, config: ClientConfig = ClientConfig(), *,
               sleep: Callable[[float], None] = time.sleep, seed: int | None = None):
    try:
      import openai  # heavy; only the client needs it
    except ImportError:  # pragma: no cover - openai is a dependency of posejax
      raise LMMError("the 'openai' package is needed to query a model: pip install openai") from None
    self._openai = openai
    self.config = config
    self._sleep = sleep
    self._rng = random.Random(seed)
    self._lock = threading.Lock()
    self._n_supported = True
    self.stats = {"requests": 0, "attempts": 0, "retries": {}, "prompt_tokens": 0,
                  "completion_tokens": 0, "answers": 0}
    key = os.environ.get(config.api_key_env)
    if not key:
      if config.base_url is None:
        raise LMMError(
            f"no API key: set the environment variable {config.api_key_env} (or point "
            "ClientConfig.base_url at a local OpenAI-compatible server)")
      key = "not-needed"  # local servers accept any key; the openai client insists on one
    self._client = openai.OpenAI(api_key=key, base_url=config.base_url, max_retries=0,
                                 timeout=config.timeout_s)

  def __repr__(self) -> str:
    return f"LMMClient(base_url={self.config.base_url!r}, api_key_env={self.config.api_key_env!r})"

  def _count(self, **changes) -> None:
    with self._lock:
      for name, value in changes.items():
        self.stats[name] += value

  def _wait_s(self, attempt: int, retry_after: float | None) -> float:
    config = self.config
    with self._lock:
      jitter = self._rng.uniform(0.5, 1.0)
    if retry_after is not None:
      # The server said how long; waiting less only earns another 429. A little jitter on top keeps
      # parallel workers apart.
      return min(retry_after, config.retry_after_max_s) + 0.1 * jitter * config.backoff_initial_s
    return jitter * min(config.backoff_max_s, config.backoff_initial_s * 2.0 ** attempt)

  def _one_try(self, messages: list[dict], n: int, settings: SamplingSettings) -> Completion:
    openai = self._openai
    try:
      response = self._client.chat.completions.create(
          model=settings.model, messages=messages, n=n, temperature=settings.temperature,
          **{self.config.max_tokens_field: settings.max_tokens})
    except openai.APITimeoutError as error:
      raise _Retryable("timeout", str(error)) from None
    except openai.APIConnectionError as error:
      raise _Retryable("connection", str(error)) from None
    except openai.APIStatusError as error:
      status = error.status_code
      if status in _RETRIED_STATUS or status >= 500:
        kind = "rate_limit" if status == 429 else f"http_{status}"
        raise _Retryable(kind, str(error), _retry_after_seconds(error.response.headers)) from None
      if status == 400 and n > 1 and self._n_supported:
        # Some servers refuse n > 1; one sample per request still works with them.
        self._n_supported = False
        raise _Retryable("n_unsupported", str(error), 0.0) from None
      raise LMMError(f"the server at {self.config.base_url or 'api.openai.com'} refused the request "
                     f"for model {settings.model!r} (HTTP {status}): {error}") from None
    except (json.JSONDecodeError, openai.APIResponseValidationError) as error:
      raise _Retryable("malformed", str(error)) from None
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
      raise _Retryable("malformed", "the response has no list of choices")
    parsed = []
    for choice in choices:
      message = getattr(choice, "message", None)
      text = getattr(message, "content", None)
      if not isinstance(text, str):
        refusal = getattr(message, "refusal", None)
        text = refusal if isinstance(refusal, str) else ""
      reason = getattr(choice, "finish_reason", None)
      parsed.append(Choice(text=text, finish_reason=reason if isinstance(reason, str) else None))
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", 0)
    completion_tokens = getattr(usage, "completion_tokens", 0)
    return Completion(choices=tuple(parsed),
                      prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else 0,
                      completion_tokens=completion_tokens if isinstance(completion_tokens, int) else 0,
                      attempts=1)

  def complete(self, messages: list[dict], n: int, settings: SamplingSettings) -> Completion:
    """One request for ``n`` samples, retried as described in the module docstring.

    Args:
      messages: the chat messages (see ``Prompt.messages``).
      n: samples asked for (the server may return fewer).
      settings: model and sampling settings.

    Returns:
      The ``Completion``; ``attempts`` says how many tries it took.

    Raises:
      LMMError: after ``max_attempts`` failed tries, or at once on an error not worth retrying.
    """
    self._count(requests=1)
    last = None
    for attempt in range(self.config.max_attempts):
      self._count(attempts=1)
      asked = n if self._n_supported else 1
      try:
        result = self._one_try(messages, asked, settings)
      except _Retryable as error:
        last = error
        with self._lock:
          self.stats["retries"][error.kind] = self.stats["retries"].get(error.kind, 0) + 1
        if attempt + 1 < self.config.max_attempts:
          self._sleep(self._wait_s(attempt, error.retry_after))
        continue
      self._count(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                  answers=len(result.choices))
      return dataclasses.replace(result, attempts=attempt + 1)
    raise LMMError(f"the request for model {settings.model!r} at "
                   f"{self.config.base_url or 'api.openai.com'} failed {self.config.max_attempts} "
                   f"times; last error: {last}")

  def sample(self, messages: list[dict], n: int, settings: SamplingSettings,
             on_answer: Callable[[Choice, dict], None] | None = None) -> list[Choice]:
    """Draws exactly ``n`` samples, with more requests when a server returns fewer choices.

    Args:
      messages: the chat messages.
      n: the number of answers wanted.
      settings: model and sampling settings.
      on_answer: called with each answer and its usage share as soon as it arrives (the cache
        writes it there); the request's token usage goes with its first answer, zeros with the rest.

    Returns:
      The ``n`` answers in arrival order.

    Raises:
      LMMError: when a request fails for good, or the server keeps returning no choices.
    """
    got: list[Choice] = []
    empty_in_a_row = 0
    while len(got) < n:
      want = min(n - len(got), max(1, self.config.max_n_per_request))
      completion = self.complete(messages, want, settings)
      if not completion.choices:
        empty_in_a_row += 1
        if empty_in_a_row >= self.config.max_attempts:
          raise LMMError(f"the server returned no choices {empty_in_a_row} times in a row for "
                         f"model {settings.model!r}; check that it serves chat completions")
        self._sleep(self._wait_s(empty_in_a_row, None))
        continue
      empty_in_a_row = 0
      for position, choice in enumerate(completion.choices[:n - len(got)]):
        usage = ({"prompt_tokens": completion.prompt_tokens,
                  "completion_tokens": completion.completion_tokens} if position == 0
                 else {"prompt_tokens": 0, "completion_tokens": 0})
        got.append(choice)
        if on_answer is not None:
          on_answer(choice, usage)
    return got
