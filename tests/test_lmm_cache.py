"""Tests of posejax.lmm.cache: the JSON Lines answer cache."""

from __future__ import annotations

import json
import threading

import pytest

from posejax.errors import FileFormatError
from posejax.lmm.cache import AnswerCache
from posejax.lmm.cache import SamplingSettings
from posejax.lmm.cache import cache_key


def _lines(path):
  return [json.loads(line) for line in path.read_text().splitlines()]


def test_key_depends_on_every_part():
  base = cache_key("abc", "two_person-1", SamplingSettings())
  assert base == cache_key("abc", "two_person-1", SamplingSettings())
  assert len(base) == 64
  variants = [
      cache_key("abd", "two_person-1", SamplingSettings()),
      cache_key("abc", "two_person-2", SamplingSettings()),
      cache_key("abc", "two_person-1", SamplingSettings(model="other")),
      cache_key("abc", "two_person-1", SamplingSettings(temperature=1.0)),
      cache_key("abc", "two_person-1", SamplingSettings(max_tokens=100)),
      cache_key("abc", "two_person-1", SamplingSettings(detail="low")),
  ]
  assert len(set(variants + [base])) == 7


def test_append_flushes_each_answer_and_reloads(tmp_path):
  path = tmp_path / "sub" / "cache.jsonl"
  cache = AnswerCache(path)
  assert cache.append("k1", "first", usage={"prompt_tokens": 5, "completion_tokens": 2}) == 0
  # Written and flushed before close: another reader sees it at once.
  assert [r["answer"] for r in _lines(path)] == ["first"]
  assert cache.append("k1", "second", usage={"prompt_tokens": 0, "completion_tokens": 3}) == 1
  assert cache.append("k2", "other") == 0
  cache.close()
  again = AnswerCache(path)
  assert again.answers("k1") == ["first", "second"]
  assert again.count("k2") == 1
  assert len(again) == 3
  assert "k1" in again and "k3" not in again
  assert sorted(again.keys()) == ["k1", "k2"]
  assert again.usage_totals() == {"prompt_tokens": 5, "completion_tokens": 5, "answers": 3}
  assert again.usage_totals(["k2"]) == {"prompt_tokens": 0, "completion_tokens": 0, "answers": 1}
  again.close()


def test_half_written_last_line_is_dropped_and_the_file_repaired(tmp_path):
  path = tmp_path / "cache.jsonl"
  with AnswerCache(path) as cache:
    cache.append("k", "a")
    cache.append("k", "b")
  good = path.read_bytes()
  path.write_bytes(good + b'{"key": "k", "index": 2, "answ')
  with AnswerCache(path) as cache:
    assert cache.dropped_tail
    assert cache.answers("k") == ["a", "b"]
    assert cache.append("k", "c") == 2
  assert [r["index"] for r in _lines(path)] == [0, 1, 2]


def test_complete_last_line_without_newline_is_kept(tmp_path):
  path = tmp_path / "cache.jsonl"
  path.write_text(json.dumps({"key": "k", "index": 0, "answer": "a"}))
  with AnswerCache(path) as cache:
    assert not cache.dropped_tail
    assert cache.answers("k") == ["a"]
    cache.append("k", "b")
  assert [r["answer"] for r in _lines(path)] == ["a", "b"]


def test_malformed_line_in_the_middle_is_an_error(tmp_path):
  path = tmp_path / "cache.jsonl"
  path.write_text('{"key": "k", "index": 0, "answer": "a"}\nnot json\n'
                  '{"key": "k", "index": 1, "answer": "b"}\n')
  with pytest.raises(FileFormatError, match="line 2"):
    AnswerCache(path)


def test_folder_is_not_a_cache(tmp_path):
  with pytest.raises(FileFormatError, match="folder"):
    AnswerCache(tmp_path)


def test_duplicate_indices_count_once(tmp_path):
  path = tmp_path / "cache.jsonl"
  line = json.dumps({"key": "k", "index": 0, "answer": "a"})
  path.write_text(line + "\n" + line + "\n")
  with AnswerCache(path) as cache:
    assert cache.answers("k") == ["a"]


def test_threads_share_one_cache(tmp_path):
  path = tmp_path / "cache.jsonl"
  cache = AnswerCache(path)

  def write(worker):
    for k in range(50):
      cache.append(f"key{worker % 2}", f"{worker}-{k}")

  threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  cache.close()
  records = _lines(path)
  assert len(records) == 200
  for key in ("key0", "key1"):
    assert sorted(r["index"] for r in records if r["key"] == key) == list(range(100))


_APPENDER = """
import sys
from posejax.lmm.cache import AnswerCache
path, worker = sys.argv[1], sys.argv[2]
with AnswerCache(path) as cache:
  for k in range(200):
    cache.append("shared", f"{worker}-{k}")
"""


def test_two_processes_append_to_one_cache_and_nothing_is_hidden(tmp_path):
  import os
  import subprocess
  import sys
  path = tmp_path / "cache.jsonl"
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, PYTHONPATH=repo)
  with AnswerCache(path) as watcher:
    children = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(path), str(w)], env=env,
                                 stderr=subprocess.PIPE) for w in range(2)]
    for child in children:
      assert child.wait(timeout=120) == 0, child.stderr.read().decode()
    # An object opened before the others wrote sees their lines too.
    assert watcher.count("shared") == 400
  records = _lines(path)
  assert sorted(r["index"] for r in records) == list(range(400))
  with AnswerCache(path) as again:
    assert sorted(again.answers("shared")) == sorted(f"{w}-{k}" for w in range(2) for k in range(200))


def test_reader_does_not_cut_a_line_another_writer_has_not_finished(tmp_path):
  path = tmp_path / "cache.jsonl"
  with AnswerCache(path) as cache:
    cache.append("k", "a")
    with open(path, "ab") as handle:  # a line in flight, as another writer holds it
      handle.write(b'{"key": "k", "index": 1, "ans')
      handle.flush()
      assert cache.count("k") == 1
      assert path.read_bytes().endswith(b'"ans')
      handle.write(b'wer": "b"}\n')
    assert cache.answers("k") == ["a", "b"]


_CROSSED_HOLDER = """
import sys
from posejax.lmm.cache import AnswerCache
path = sys.argv[1]
with AnswerCache(path) as cache:
  with cache.reserve("second"):
    print("holding second", flush=True)
    with cache.reserve("first"):
      pass
"""


def test_reservations_crossed_between_threaded_processes_wait_instead_of_failing(tmp_path):
  # This process's main thread holds "first"; a child holds "second" and waits for "first"; then a
  # second thread here asks for "second". The kernel sees a cycle between the two processes (its
  # locks are per process) although the main thread will release without waiting: the thread must
  # wait, not fail with EDEADLK.
  import os
  import subprocess
  import sys
  import time
  path = tmp_path / "cache.jsonl"
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, PYTHONPATH=repo)
  failures = []
  with AnswerCache(path) as cache:
    first = cache.reserve("first")
    first.__enter__()
    child = subprocess.Popen([sys.executable, "-c", _CROSSED_HOLDER, str(path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
      assert child.stdout.readline() == b"holding second\n", child.stderr.read().decode()
      time.sleep(0.5)  # the child is now waiting for "first"

      def take_second():
        try:
          with cache.reserve("second"):
            pass
        except OSError as error:
          failures.append(error)

      thread = threading.Thread(target=take_second)
      thread.start()
      time.sleep(0.5)
    finally:
      first.__exit__(None, None, None)
    assert child.wait(timeout=60) == 0, child.stderr.read().decode()
    thread.join(timeout=60)
  assert not thread.is_alive()
  assert not failures, failures
