"""A persistent cache of model answers: one JSON Lines file, one line per answer, appended as it arrives.

Paid answers must never be lost or paid for twice. Every answer is written (and flushed) the moment it
arrives, as one line::

  {"key": ..., "index": 3, "answer": "...", "image_id": ..., "prompt_version": ..., "model": ...,
   "settings": {...}, "usage": {"prompt_tokens": ..., "completion_tokens": ...}, "finish_reason": ...,
   "created": 1700000000.0}

``key`` is ``cache_key(content_hash, prompt_version, settings)``; the number of samples is not part
of it (answers are independent draws: asking for 30 after 20 were cached pays for 10 more).
``index`` numbers a key's answers 0, 1, 2, ... in arrival order. A request's token usage is
recorded on its first answer, so summing the lines gives the true total. The API key is never
stored.

A killed run leaves at most one half-written last line, which the next writer repairs (see
``_read_new``); any other malformed line is an error. Processes and threads may share one file: a
lock file beside it (``<cache>.lock``) serialises appends and every read first takes in what others
appended, and ``AnswerCache.reserve(key)`` makes a second process that wants the same key wait and
then find the answers cached instead of paying for them again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import threading
import time

from posejax.errors import FileFormatError


@dataclasses.dataclass(frozen=True)
class SamplingSettings:
  """Everything besides the prompt and the image that decides the distribution of answers (the
  defaults are the reference's)."""

  model: str = "gpt-4o"  # the model name the server knows
  temperature: float = 0.7
  max_tokens: int = 500  # the cap on each answer's length
  detail: str = "high"  # the image detail level requested

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


def content_hash_of_text(text: str) -> str:
  """The content hash of a text-only query's description (sha256 hex)."""
  return hashlib.sha256(("text:" + text).encode("utf-8")).hexdigest()


def cache_key(content_hash: str, prompt_version: str, settings: SamplingSettings) -> str:
  """The key of one image's answers: a sha256 hex digest of content, prompt and sampling settings."""
  blob = json.dumps({"content": content_hash, "prompt": prompt_version, **settings.as_dict()},
                    sort_keys=True)
  return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True)
class CachedAnswer:
  """One answer as stored."""

  key: str
  index: int  # its position among the key's answers (0-based)
  answer: str  # the model's text, verbatim (refusals and garbage included)
  record: dict  # the whole stored line (image_id, usage, finish_reason, ...)


class AnswerCache:
  """The JSON Lines answer cache (see the module docstring).

  Args:
    path: the cache file; created (with its folder) when missing.
    durable: also ``os.fsync`` after every line (survives power loss, not just a killed process).

  Attributes:
    dropped_tail: True when this object removed a killed run's half-written last line.
  """

  def __init__(self, path: str | os.PathLike, *, durable: bool = False):
    self.path = os.fspath(path)
    self.durable = durable
    self._lock = threading.RLock()
    self._key_locks: dict[str, threading.Lock] = {}
    self._answers: dict[str, dict[int, CachedAnswer]] = {}
    self._offset = 0
    self._line_number = 0
    self.dropped_tail = False
    self._lock_fd = -1
    if os.path.isdir(self.path):
      raise FileFormatError(self.path, "the answer cache must be a file, but this is a folder")
    folder = os.path.dirname(os.path.abspath(self.path))
    os.makedirs(folder, exist_ok=True)
    self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
      self._file = open(self.path, "a+b")
      with self._held(writing=True):
        pass
    except BaseException:
      self.close()
      raise

  @contextlib.contextmanager
  def _held(self, writing: bool):
    """Holds the file (threads and processes) with every line other writers appended read in:
    exclusively for writing (and repairing a killed writer's last line), shared for reading."""
    with self._lock:
      fcntl.flock(self._lock_fd, fcntl.LOCK_EX if writing else fcntl.LOCK_SH)
      try:
        self._read_new(repair=writing)
        yield
      finally:
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

  def _read_new(self, repair: bool) -> None:
    """Takes in the complete lines appended since the last read.

    Writers hold the exclusive lock for a whole line, so an unterminated last line seen under a lock
    is a killed writer's. With ``repair`` (exclusive lock held) it is completed with its newline when
    it is a whole record, else cut from the file (it can never become valid).
    """
    self._file.seek(self._offset)
    data = self._file.read()
    position = 0
    while position < len(data):
      newline = data.find(b"\n", position)
      if newline < 0:
        if not repair:
          break
        tail = data[position:]
        if _parse_record(tail) is not None:
          self._file.write(b"\n")
          self._file.flush()
          self._take_line(tail)
          position = len(data) + 1
        else:
          self.dropped_tail = True
          self._file.truncate(self._offset + position)
        break
      self._take_line(data[position:newline])
      position = newline + 1
    self._offset += min(position, len(data) + 1)

  def _take_line(self, line: bytes) -> None:
    self._line_number += 1
    if not line.strip():
      return
    record = _parse_record(line)
    if record is None:
      raise FileFormatError(
          self.path, f"line {self._line_number} is not a cached answer (expected a JSON object "
          "with 'key', 'index' and 'answer'); fix or remove the line, or use another cache file")
    by_index = self._answers.setdefault(record["key"], {})
    by_index.setdefault(record["index"], CachedAnswer(record["key"], record["index"],
                                                      record["answer"], record))

  @contextlib.contextmanager
  def reserve(self, key: str):
    """Holds ``key`` for this caller (other threads and processes wait) while it fills the key.

    Use it around "count what is cached, ask for the rest, append": two runs that want the same
    image then pay for its answers once.
    """
    with self._lock:
      thread_lock = self._key_locks.setdefault(key, threading.Lock())
    with thread_lock:
      # One byte of the lock file per key (chosen by the key's hash): an unrelated key that lands
      # on the same byte only waits, it is never wrong.
      offset = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:10], 16)
      _lock_byte(self._lock_fd, offset)
      try:
        yield
      finally:
        fcntl.lockf(self._lock_fd, fcntl.LOCK_UN, 1, offset)

  def close(self) -> None:
    """Closes the file; the object must not be used afterwards."""
    with self._lock:
      handle = getattr(self, "_file", None)
      if handle is not None and not handle.closed:
        handle.close()
      if self._lock_fd >= 0:
        os.close(self._lock_fd)
        self._lock_fd = -1

  def __enter__(self) -> AnswerCache:
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def __len__(self) -> int:
    with self._held(writing=False):
      return sum(len(v) for v in self._answers.values())

  def __contains__(self, key: str) -> bool:
    with self._held(writing=False):
      return key in self._answers

  def keys(self) -> list[str]:
    """Every key with at least one answer."""
    with self._held(writing=False):
      return list(self._answers)

  def count(self, key: str) -> int:
    """How many answers are stored under ``key``."""
    with self._held(writing=False):
      return len(self._answers.get(key, {}))

  def entries(self, key: str) -> list[CachedAnswer]:
    """The stored answers of ``key`` in index order."""
    with self._held(writing=False):
      by_index = self._answers.get(key, {})
      return [by_index[i] for i in sorted(by_index)]

  def answers(self, key: str) -> list[str]:
    """The stored answer texts of ``key`` in index order."""
    return [entry.answer for entry in self.entries(key)]

  def append(self, key: str, answer: str, **fields) -> int:
    """Stores ``answer`` (verbatim) under ``key``'s next free index, flushed to disk, with the
    JSON-serialisable ``fields`` (image_id, prompt_version, usage, ...); returns the index."""
    record = {"key": key, "index": 0, "answer": answer, **fields}
    with self._held(writing=True):
      by_index = self._answers.setdefault(key, {})
      index = max(by_index) + 1 if by_index else 0
      record.update(index=index, created=round(time.time(), 3))
      line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
      self._file.write(line)
      self._file.flush()
      if self.durable:
        os.fsync(self._file.fileno())
      self._offset += len(line)
      self._line_number += 1
      by_index[index] = CachedAnswer(key, index, answer, record)
      return index

  def usage_totals(self, keys=None) -> dict[str, int]:
    """Summed ``prompt_tokens``, ``completion_tokens`` and ``answers`` of the stored answers (all
    keys, or the given ones)."""
    with self._held(writing=False):
      chosen = self._answers.keys() if keys is None else [k for k in keys if k in self._answers]
      totals = {"prompt_tokens": 0, "completion_tokens": 0, "answers": 0}
      for key in chosen:
        for entry in self._answers[key].values():
          usage = entry.record.get("usage")
          usage = usage if isinstance(usage, dict) else {}
          totals["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
          totals["completion_tokens"] += int(usage.get("completion_tokens") or 0)
          totals["answers"] += 1
      return totals


def _parse_record(line: bytes) -> dict | None:
  """The cached answer a line holds, or None when it is not one."""
  try:
    record = json.loads(line.decode("utf-8"))
  except (UnicodeDecodeError, ValueError, RecursionError):
    return None
  valid = (isinstance(record, dict) and isinstance(record.get("key"), str)
           and isinstance(record.get("index"), int) and not isinstance(record.get("index"), bool)
           and record["index"] >= 0 and isinstance(record.get("answer"), str))
  return record if valid else None


def _lock_byte(fd: int, offset: int) -> None:
  """Takes the exclusive lock on byte ``offset`` of ``fd``, waiting as long as it is held.

  The kernel tracks byte-range locks per process, not per thread, so with several threads in two
  processes it can see a deadlock that is not one and refuse with EDEADLK; no lock was taken then,
  and retrying after a short pause waits the holder out.
  """
  pause_s = 0.005
  while True:
    try:
      fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset)
      return
    except OSError as error:
      if error.errno != errno.EDEADLK:
        raise
    time.sleep(pause_s)
    pause_s = min(2 * pause_s, 0.2)
