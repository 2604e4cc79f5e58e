"""Files written so that a killed run never leaves a half-written one: temp file + rename; and
append-only files read back without the half-written line a killed run may leave."""

from __future__ import annotations

import logging
import os
import tempfile

from posejax.errors import FileFormatError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> str:
  """Writes ``data`` to ``path`` atomically (a temporary file in the same folder, then a rename).

  Creates the parent folder if needed. Returns the path as a string.
  """
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
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


def atomic_write_text(path: str | os.PathLike, text: str) -> str:
  """``atomic_write_bytes`` for UTF-8 text."""
  return atomic_write_bytes(path, text.encode("utf-8"))


def check_format_header(path, data, expected_format: str, version: int, description: str) -> None:
  """Refuses a JSON document that is not ``expected_format`` at ``version``.

  Args:
    path: the file, named in the error.
    data: the parsed JSON document.
    expected_format: the value its ``"format"`` key must hold.
    version: the value its ``"version"`` key must hold.
    description: what the file is, in words ("a constraints file").

  Raises:
    FileFormatError: another kind of document, or another version.
  """
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
