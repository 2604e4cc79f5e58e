"""Files written so that a killed run never leaves a half-written one: temp file + rename; and
append-only files read back without the half-written line a killed run may leave; a lock that
keeps two runs from writing the same outputs at once.

A temporary file's name carries its writer's process id (``.tmp-<pid>-...``). A run killed between
creating and renaming it leaves it behind; the first atomic write into that folder by a later
process removes it, once its writer is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import tempfile
import threading

from posejax import safe_load
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> str:
  """Writes ``data`` to ``path`` atomically (a temporary file in the same folder, then a rename),
  creating the folder if needed; returns the path as a string."""
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  remove_stale_temporaries(folder)
  handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".tmp-{os.getpid()}-",
                                       suffix=os.path.basename(path))
  try:
    with os.fdopen(handle, "wb") as stream:
      stream.write(data)
      stream.flush()
      os.fsync(stream.fileno())
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.unlink(temporary)
    raise
  return path


CACHE_ENV = "POSEJAX_CACHE"
"""Environment variable: the folder posejax keeps what it can recompute in, or ``off``."""


def cache_directory(kind: str) -> str | None:
  """Where posejax keeps one kind of recomputable file: ``$POSEJAX_CACHE/kind``, by default
  ``~/.cache/posejax/kind``; None when ``POSEJAX_CACHE=off``."""
  root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "posejax")
  if root.lower() == "off":
    return None
  return os.path.join(root, kind)


def atomic_write_text(path: str | os.PathLike, text: str) -> str:
  """``atomic_write_bytes`` for UTF-8 text."""
  return atomic_write_bytes(path, text.encode("utf-8"))


def refuse_changed_settings(out_dir: str | os.PathLike, signature: dict, what: str) -> str:
  """Path of ``out_dir``'s ``run.json``, after checking that a run resumed there used the same
  ``signature`` (the settings that change its results).

  Raises:
    InvalidInputError: naming the settings that differ.
    FileFormatError: a ``run.json`` that is not a JSON object with a ``"signature"`` object.
  """
  run_path = os.path.join(out_dir, "run.json")
  if os.path.isfile(run_path):
    previous = safe_load.load_json(run_path, "a run's settings file", hint="move it away")
    previous = previous.get("signature") if isinstance(previous, dict) else None
    if not isinstance(previous, dict):
      raise FileFormatError(run_path, 'not a run\'s settings file (no "signature" object); '
                            "move it away")
    changed = sorted(k for k, v in signature.items() if previous.get(k) != v)
    if changed:
      raise InvalidInputError(f"{out_dir} holds {what} made with other settings "
                              f"({', '.join(changed)}); use another --out_dir")
  return run_path


def check_format_header(path, data, expected_format: str, version: int, description: str) -> None:
  """Refuses a parsed JSON document ``data`` whose ``"format"`` and ``"version"`` keys are not
  ``expected_format`` and ``version`` (``FileFormatError`` naming ``path``; ``description`` says
  what the file should be, e.g. "a constraints file")."""
  if not isinstance(data, dict) or data.get("format") != expected_format:
    raise FileFormatError(path, f"not {description} (expected 'format': '{expected_format}')")
  if data.get("version") != version:
    raise FileFormatError(path, f"unsupported version {data.get('version')!r}; this posejax reads "
                          f"version {version}")


def read_complete_lines(path: str | os.PathLike) -> bytes:
  """An append-only text file's content up to its last newline; ``b""`` when there is no file.

  A run killed in the middle of an append leaves an unterminated last line. It is cut from the
  file too (with a warning), so that the next append starts on a line of its own.
  """
  if not os.path.isfile(path):
    return b""
  with open(path, "rb") as handle:
    content = handle.read()
  if content and not content.endswith(b"\n"):
    cut = content.rfind(b"\n") + 1
    logging.getLogger(__name__).warning(
        "%s ended in a half-written line (a killed run); dropping it", os.fspath(path))
    with open(path, "r+b") as handle:
      handle.truncate(cut)
    content = content[:cut]
  return content


_TEMPORARY = re.compile(r"^\.tmp-(\d+)-")
_swept_folders: set[str] = set()
_swept_lock = threading.Lock()


def _process_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # alive, owned by someone else
    return True
  return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
  """Removes (once per process) and returns the temporary files in ``folder`` whose writer
  process is no longer running."""
  folder = os.path.abspath(os.fspath(folder))
  with _swept_lock:
    if folder in _swept_folders:
      return []
    _swept_folders.add(folder)
  removed = []
  try:
    names = os.listdir(folder)
  except OSError:
    return removed
  for name in names:
    match = _TEMPORARY.match(name)
    if match is None or int(match.group(1)) == os.getpid() or _process_alive(int(match.group(1))):
      continue
    stale = os.path.join(folder, name)
    try:
      os.unlink(stale)
      removed.append(stale)
    except OSError:
      pass
  if removed:
    logging.getLogger(__name__).info("removed %d temporary files of killed runs in %s",
                                     len(removed), folder)
  return removed


@contextlib.contextmanager
def exclusive_run(path: str | os.PathLike, what: str = "outputs"):
  """Holds ``<path>.lock`` for the duration: a second run writing the same outputs waits for it.

  Args:
    path: the output file or folder the lock guards.
    what: what is guarded, for the message logged while waiting.
  """
  lock_path = os.fspath(path).rstrip(os.sep) + ".lock"
  os.makedirs(os.path.dirname(os.path.abspath(lock_path)), exist_ok=True)
  fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      logging.getLogger(__name__).warning(
          "another run is writing the %s at %s; waiting for it to finish", what, os.fspath(path))
      fcntl.flock(fd, fcntl.LOCK_EX)
    yield
  finally:
    os.close(fd)
