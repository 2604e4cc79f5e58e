"""The one exception family posejax raises for user-facing failures.

Every message says what was wrong (naming the file, argument or answer) and what to do about it.
Catch ``PoseJaxError`` to handle them all.
"""

from __future__ import annotations

import os


class PoseJaxError(Exception):
  """Base class of every error posejax raises on purpose."""


class _AboutFile:
  """Mixin of the errors about one file: ``path`` (None: none) prefixes the message ``problem``."""

  def __init__(self, path: str | os.PathLike | None, problem: str):
    self.path = None if path is None else os.fspath(path)
    self.problem = problem
    super().__init__(problem if self.path is None else f"{self.path}: {problem}")


class FileFormatError(_AboutFile, PoseJaxError, ValueError):
  """A file (model, prior, region map, dataset, cache) is missing or malformed (``path``)."""


class InvalidInputError(PoseJaxError, ValueError):
  """An argument has the wrong shape, dtype or value (checked where data enters posejax)."""


class UnsupportedImageError(_AboutFile, InvalidInputError):
  """An input posejax cannot fit as it is: nobody found, more than two people in one image, an
  initial estimate with fewer people than the keypoints (``path``: the file that shows it)."""


class ConstraintError(InvalidInputError):
  """Contact constraints cannot be built: unknown region names, too many assignments, ..."""


class LMMError(PoseJaxError, RuntimeError):
  """A language-model request failed for good (after retries), or the cache cannot answer."""


class LMMRefusalError(_AboutFile, LMMError):
  """The language model refused to answer about the image ``path`` (every answer a refusal)."""


class PoseJaxWarning(UserWarning):
  """Something posejax did that the caller should look at, although nothing failed (a fit that did
  not converge, answers that look like another prompt's)."""
