"""Files written so that a killed run never leaves a half-written one: temp file + rename."""

from __future__ import annotations

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
