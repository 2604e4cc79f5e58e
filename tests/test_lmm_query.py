"""Tests of posejax.lmm.query: cache-first querying, offline replay, datasets, killed runs resumed."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from lmm_server import FakeLMMServer
from posejax.errors import LMMError
from posejax.lmm.cache import AnswerCache
from posejax.lmm.cache import SamplingSettings
from posejax.lmm.client import ClientConfig
from posejax.lmm.client import LMMClient
from posejax.lmm.image import prepare_image
from posejax.lmm.prompts import TWO_PERSON
from posejax.lmm.prompts import TWO_PERSON_TEXT
from posejax.lmm.query import QueryItem
from posejax.lmm.query import item_key
from posejax.lmm.query import query
from posejax.lmm.query import query_many

ANSWER = "Reasoning.\n| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hand | back |"
SETTINGS = SamplingSettings(model="fake-model")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _client(server, **config):
  return LMMClient(ClientConfig(base_url=server.base_url, timeout_s=5.0, **config),
                   sleep=lambda s: None, seed=0)


def _items(count):
  return [QueryItem(image_id=f"scene{i}", description=f"scene number {i}: two people hug")
          for i in range(count)]


def _records(path):
  return [json.loads(line) for line in open(path, encoding="utf-8").read().splitlines()]


def _check_exactly_once(path, keys, n):
  records = _records(path)
  pairs = [(r["key"], r["index"]) for r in records]
  assert len(pairs) == len(set(pairs)), "an answer was written twice"
  counts = collections.Counter(r["key"] for r in records)
  assert {k: counts[k] for k in keys} == {k: n for k in keys}
  ids = [r["answer"].rsplit("answer-id: ", 1)[1] for r in records]
  assert len(ids) == len(set(ids)), "one served answer was stored twice"
  for key in keys:
    assert sorted(r["index"] for r in records if r["key"] == key) == list(range(n))


def test_second_run_pays_nothing_and_more_samples_top_up(tmp_path):
  cache = AnswerCache(tmp_path / "cache.jsonl")
  (item,) = _items(1)
  with FakeLMMServer([ANSWER]) as server:
    client = _client(server)
    first = query(item, prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache, client=client, n=4)
    assert (first.from_cache, first.fetched, len(first.answers)) == (0, 4, 4)
    again = query(item, prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache, client=client, n=4)
    assert again.answers == first.answers
    assert (again.from_cache, again.fetched) == (4, 0)
    assert len(server.requests) == 1
    more = query(item, prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache, client=client, n=6)
    assert more.answers[:4] == first.answers
    assert [r["n"] for r in server.requests] == [4, 2]
  record = _records(cache.path)[0]
  assert record["image_id"] == "scene0"
  assert record["prompt_version"] == TWO_PERSON_TEXT.version
  assert record["model"] == "fake-model"
  assert record["settings"]["temperature"] == 0.7
  assert record["usage"] == {"prompt_tokens": 100, "completion_tokens": 40}
  assert record["finish_reason"] == "stop"
  cache.close()


def test_offline_replays_the_cache_and_names_missing_keys(tmp_path):
  path = tmp_path / "cache.jsonl"
  items = _items(2)
  with AnswerCache(path) as cache, FakeLMMServer([ANSWER]) as server:
    online = query(items[0], prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache,
                   client=_client(server), n=3)
  with AnswerCache(path) as cache:
    offline = query(items[0], prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache, n=3,
                    offline=True)
    assert offline.answers == online.answers
    missing_key = item_key(items[1], TWO_PERSON_TEXT, SETTINGS)
    with pytest.raises(LMMError, match=missing_key):
      query(items[1], prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache, n=3, offline=True)
    with pytest.raises(LMMError, match="holds 3 of the 5"):
      query(items[0], prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache, n=5, offline=True)
    results = query_many(items, prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache, n=3,
                         offline=True, raise_on_error=False)
    assert results[0].error is None and results[1].error is not None
    with pytest.raises(LMMError, match="1 of 2 items failed"):
      query_many(items, prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache, n=3, offline=True)


def test_image_query_sends_the_prepared_image(tmp_path, monkeypatch):
  monkeypatch.setenv("POSEJAX_TEST_KEY", "sk-never-written")
  rng = np.random.default_rng(0)
  image = prepare_image(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
  item = QueryItem(image_id="img", image=image)
  with AnswerCache(tmp_path / "cache.jsonl") as cache, FakeLMMServer([ANSWER]) as server:
    client = LMMClient(ClientConfig(base_url=server.base_url, api_key_env="POSEJAX_TEST_KEY"),
                       sleep=lambda s: None)
    result = query(item, prompt=TWO_PERSON, settings=SETTINGS, cache=cache, client=client, n=2)
  assert len(result.answers) == 2
  system, user = server.requests[0]["messages"]
  assert system == {"role": "system", "content": TWO_PERSON.system}
  (part,) = user["content"]
  assert part["image_url"]["url"] == "data:image/jpeg;base64," + image.base64
  assert part["image_url"]["detail"] == "high"
  assert "sk-never-written" not in (tmp_path / "cache.jsonl").read_text()
  with pytest.raises(LMMError, match="needs an image"):
    query(QueryItem(image_id="x", description="text"), prompt=TWO_PERSON, settings=SETTINGS,
          cache=cache, n=1, offline=True)


def test_dataset_is_queried_concurrently_once_per_distinct_item(tmp_path):
  items = _items(5) + [_items(1)[0]]
  seen = []
  with AnswerCache(tmp_path / "cache.jsonl") as cache, FakeLMMServer([ANSWER], delay_s=0.05) as server:
    results = query_many(items, prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache,
                         client=_client(server), n=3, max_workers=3,
                         progress=lambda done, total, r: seen.append((done, total)))
  assert [r.image_id for r in results] == [i.image_id for i in items]
  assert results[5].answers == results[0].answers
  assert len(server.requests) == 5
  assert seen[-1] == (5, 5)
  _check_exactly_once(cache.path, [r.key for r in results[:5]], 3)


class _KilledAfter(AnswerCache):
  """A cache whose process 'dies' after a number of answers were written."""

  def __init__(self, path, survive):
    super().__init__(path)
    self.survive = survive

  def append(self, key, answer, **fields):
    if len(self) >= self.survive:
      raise KeyboardInterrupt("killed")
    return super().append(key, answer, **fields)


def test_run_killed_halfway_resumes_with_every_answer_once(tmp_path):
  path = tmp_path / "cache.jsonl"
  items = _items(4)
  n = 5
  with FakeLMMServer([ANSWER], max_n=2) as server:
    killed = _KilledAfter(path, survive=7)
    with pytest.raises(KeyboardInterrupt):
      query_many(items, prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=killed,
                 client=_client(server), n=n, max_workers=2)
    killed.close()
    assert len(_records(path)) == 7
    served_before = server.served
    with AnswerCache(path) as cache:
      have = {item_key(i, TWO_PERSON_TEXT, SETTINGS): cache.count(
          item_key(i, TWO_PERSON_TEXT, SETTINGS)) for i in items}
      results = query_many(items, prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache,
                           client=_client(server), n=n, max_workers=2)
    served = server.served - served_before
  # Only what was missing was asked for again.
  assert served == sum(n - c for c in have.values())
  assert [r.from_cache for r in results] == [have[r.key] for r in results]
  _check_exactly_once(path, [r.key for r in results], n)


_CHILD = textwrap.dedent("""
    import sys
    from posejax.lmm.cache import AnswerCache, SamplingSettings
    from posejax.lmm.client import ClientConfig, LMMClient
    from posejax.lmm.prompts import TWO_PERSON_TEXT
    from posejax.lmm.query import QueryItem, query_many
    base_url, path, count, n, per_request, order = sys.argv[1:7]
    items = [QueryItem(image_id=f"scene{i}", description=f"scene number {i}: two people hug")
             for i in range(int(count))]
    if order == "reversed":
      items = items[::-1]
    client = LMMClient(ClientConfig(base_url=base_url, max_n_per_request=int(per_request)))
    with AnswerCache(path) as cache:
      query_many(items, prompt=TWO_PERSON_TEXT, settings=SamplingSettings(model="fake-model"),
                 cache=cache, client=client, n=int(n), max_workers=2)
""")


def _child(base_url, path, count, n, per_request, order="forward"):
  """A process querying ``count`` items for ``n`` answers each through one cache file."""
  return [sys.executable, "-c", _CHILD, base_url, str(path), str(count), str(n), str(per_request),
          order]


def test_killed_process_resumes_with_every_answer_once(tmp_path):
  path = tmp_path / "cache.jsonl"
  items = _items(4)
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
  with FakeLMMServer([ANSWER], delay_s=0.1) as server:
    child = subprocess.Popen(_child(server.base_url, path, 4, 5, 1), env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
      if path.exists() and path.read_text().count("\n") >= 6:
        break
      if child.poll() is not None:
        break
      time.sleep(0.02)
    assert child.poll() is None, child.stderr.read().decode()
    child.send_signal(signal.SIGKILL)
    child.wait()
    server.wait_until_idle()  # the dead child's requests answered before counting ours
    stored = len(_records(path))
    assert 6 <= stored < 20
    served_before = server.served
    with AnswerCache(path) as cache:
      results = query_many(items, prompt=TWO_PERSON_TEXT, settings=SETTINGS, cache=cache,
                           client=_client(server), n=5, max_workers=2)
    served = server.served - served_before
  assert served == 20 - stored
  _check_exactly_once(path, [r.key for r in results], 5)


def test_two_processes_on_one_cache_ask_once_and_store_each_answer_once(tmp_path):
  path = tmp_path / "cache.jsonl"
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
  with FakeLMMServer([ANSWER], delay_s=0.05) as server:
    children = [subprocess.Popen(_child(server.base_url, path, 6, 4, 2, order), env=env, cwd=REPO,
                                 stderr=subprocess.PIPE) for order in ("forward", "reversed")]
    for child in children:
      assert child.wait(timeout=120) == 0, child.stderr.read().decode()
    served = server.served
  keys = [item_key(i, TWO_PERSON_TEXT, SETTINGS) for i in _items(6)]
  assert served == 6 * 4, f"{served} answers paid for, 24 needed"
  _check_exactly_once(path, keys, 4)
  with AnswerCache(path) as cache:
    assert all(cache.count(key) == 4 for key in keys)
