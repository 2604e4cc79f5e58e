"""Tests of posejax.lmm.client against a real HTTP server on loopback, through the real openai client."""

from __future__ import annotations

import pytest

import lmm_server
from lmm_server import FakeLMMServer
from posejax.errors import LMMError
from posejax.lmm.cache import SamplingSettings
from posejax.lmm.client import ClientConfig
from posejax.lmm.client import LMMClient

MESSAGES = [{"role": "system", "content": "list contacts"}, {"role": "user", "content": "a scene"}]
SETTINGS = SamplingSettings(model="fake-model", temperature=0.7, max_tokens=500)
ANSWER = "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hand | back |"


def _client(server, waits, **config):
  options = dict(base_url=server.base_url, timeout_s=5.0, max_attempts=4, backoff_initial_s=1.0,
                 backoff_max_s=8.0)
  options.update(config)
  return LMMClient(ClientConfig(**options), sleep=waits.append, seed=0)


def test_samples_with_n_and_sends_the_settings():
  waits = []
  with FakeLMMServer([ANSWER]) as server:
    got = _client(server, waits).sample(MESSAGES, 5, SETTINGS)
  assert [c.text for c in got] == [f"{ANSWER}\nanswer-id: {k}" for k in range(5)]
  assert all(c.finish_reason == "stop" for c in got)
  (request,) = server.requests
  assert request["n"] == 5
  assert request["temperature"] == 0.7
  assert request["max_tokens"] == 500
  assert request["model"] == "fake-model"
  assert request["messages"] == MESSAGES
  assert waits == []


@pytest.mark.parametrize("fault, kind", [
    ((lmm_server.SERVER_ERROR,), "http_500"),
    ((lmm_server.MALFORMED,), "malformed"),
    ((lmm_server.TIMEOUT, 1.0), "timeout"),
])
def test_retries_transient_faults(fault, kind):
  waits = []
  with FakeLMMServer([ANSWER], faults=[fault, fault]) as server:
    client = _client(server, waits, timeout_s=0.4)
    got = client.sample(MESSAGES, 3, SETTINGS)
  assert len(got) == 3
  assert client.stats["retries"] == {kind: 2}
  assert client.stats["attempts"] == 3
  assert len(server.requests) == 3
  # Exponential backoff with jitter in [1/2, 1] of 1 s, then 2 s.
  assert len(waits) == 2
  assert 0.5 <= waits[0] <= 1.0
  assert 1.0 <= waits[1] <= 2.0


def test_rate_limit_honours_retry_after():
  waits = []
  with FakeLMMServer([ANSWER], faults=[(lmm_server.RATE_LIMIT, 3)]) as server:
    client = _client(server, waits)
    got = client.sample(MESSAGES, 2, SETTINGS)
  assert len(got) == 2
  assert client.stats["retries"] == {"rate_limit": 1}
  (wait,) = waits
  assert 3.0 <= wait <= 3.1


def test_fewer_choices_than_asked_are_made_up_with_more_requests():
  waits = []
  with FakeLMMServer([ANSWER], max_n=3) as server:
    client = _client(server, waits)
    seen = []
    got = client.sample(MESSAGES, 7, SETTINGS, on_answer=lambda c, usage: seen.append(usage))
  assert len(got) == 7
  assert [r["n"] for r in server.requests] == [7, 4, 1]
  # Usage goes with the first answer of each request, so the sum is the billed total.
  assert sum(u["prompt_tokens"] for u in seen) == 300
  assert sum(u["completion_tokens"] for u in seen) == 70
  assert client.stats["prompt_tokens"] == 300
  assert client.stats["completion_tokens"] == 70
  assert client.stats["answers"] == 7
  assert len({c.text for c in got}) == 7


def test_no_choices_is_retried_as_an_empty_response():
  waits = []
  with FakeLMMServer([ANSWER], faults=[(lmm_server.NO_CHOICES,), (lmm_server.FEWER, 1)]) as server:
    got = _client(server, waits).sample(MESSAGES, 2, SETTINGS)
  assert len(got) == 2
  assert [r["n"] for r in server.requests] == [2, 2, 1]


def test_gives_up_after_max_attempts_without_hidden_retries():
  waits = []
  faults = [(lmm_server.SERVER_ERROR,)] * 10
  with FakeLMMServer([ANSWER], faults=faults) as server:
    client = _client(server, waits, max_attempts=3)
    with pytest.raises(LMMError, match="failed 3 times"):
      client.sample(MESSAGES, 2, SETTINGS)
  # Exactly our three tries reached the server: the openai client's own retries are off.
  assert len(server.requests) == 3
  assert len(waits) == 2


def test_bad_request_is_not_retried():
  waits = []
  with FakeLMMServer([ANSWER], faults=[(lmm_server.BAD_REQUEST,)]) as server:
    with pytest.raises(LMMError, match="HTTP 400"):
      _client(server, waits).sample(MESSAGES, 1, SETTINGS)
  assert len(server.requests) == 1


def test_server_refusing_n_is_asked_one_sample_at_a_time():
  waits = []
  with FakeLMMServer([ANSWER], faults=[(lmm_server.BAD_REQUEST,)]) as server:
    client = _client(server, waits)
    got = client.sample(MESSAGES, 3, SETTINGS)
  assert len(got) == 3
  assert [r["n"] for r in server.requests] == [3, 1, 1, 1]


def test_api_key_from_environment_is_sent_and_never_shown(monkeypatch):
  monkeypatch.setenv("POSEJAX_TEST_KEY", "sk-secret-123")
  waits = []
  with FakeLMMServer([ANSWER]) as server:
    client = _client(server, waits, api_key_env="POSEJAX_TEST_KEY")
    client.sample(MESSAGES, 1, SETTINGS)
  headers = {name.lower(): value for name, value in server.headers[0].items()}
  assert headers["authorization"] == "Bearer sk-secret-123"
  assert "sk-secret" not in repr(client)
  assert "sk-secret" not in repr(client.config)
  assert "sk-secret" not in repr(client.stats)


def test_missing_key_for_openai_names_the_variable(monkeypatch):
  monkeypatch.delenv("POSEJAX_TEST_KEY", raising=False)
  with pytest.raises(LMMError, match="POSEJAX_TEST_KEY"):
    LMMClient(ClientConfig(api_key_env="POSEJAX_TEST_KEY"))


def test_backoff_is_capped():
  client = LMMClient(ClientConfig(base_url="http://127.0.0.1:9/v1", backoff_initial_s=1.0,
                                  backoff_max_s=4.0), seed=1)
  waits = [client._wait_s(attempt, None) for attempt in range(8)]
  assert all(0.5 * min(4.0, 2.0 ** a) <= w <= min(4.0, 2.0 ** a) for a, w in enumerate(waits))
  assert client._wait_s(0, 1000.0) <= client.config.retry_after_max_s + 0.1


def test_connection_refused_is_retried_then_reported():
  import socket

  with socket.socket() as probe:  # a port nobody listens on
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
  waits = []
  client = LMMClient(ClientConfig(base_url=f"http://127.0.0.1:{port}/v1", max_attempts=3),
                     sleep=waits.append, seed=0)
  with pytest.raises(LMMError, match="failed 3 times"):
    client.sample(MESSAGES, 1, SETTINGS)
  assert client.stats["retries"] == {"connection": 3}
  assert len(waits) == 2


def test_token_limit_field_is_configurable():
  waits = []
  with FakeLMMServer([ANSWER]) as server:
    _client(server, waits, max_tokens_field="max_completion_tokens").sample(MESSAGES, 1, SETTINGS)
  assert server.requests[0]["max_completion_tokens"] == 500
  assert "max_tokens" not in server.requests[0]
