"""The one exception family posejax raises for user-facing failures.

Every message says what was wrong (naming the file, argument or answer) and what to do about it.
Catch ``PoseJaxError`` to handle them all.
"""

from __future__ import annotations

import os


class PoseJaxError(Exception):
  """Base class of every error posejax raises on purpose."""


class FileFormatError(PoseJaxError, ValueError):
  """A file (model, prior, region map, dataset, cache) is missing or malformed.

  Attributes:
    path: the offending file or folder.
  """

  def __init__(self, path: str | os.PathLike | None, problem: str):
    self.path = None if path is None else os.fspath(path)
    self.problem = problem
    where = f"{self.path}: " if self.path is not None else ""
    super().__init__(f"{where}{problem}")


class InvalidInputError(PoseJaxError, ValueError):
  """An argument has the wrong shape, dtype or value (checked where data enters posejax)."""


class UnsupportedImageError(InvalidInputError):
  """An input posejax cannot fit as it is: nobody found, more than two people in one image, an
  initial estimate with fewer people than the keypoints.

  Attributes:
    path: the file that shows the problem (keypoint file, estimate file, image).
  """

  def __init__(self, path: str | os.PathLike, problem: str):
    self.path = os.fspath(path)
    self.problem = problem
    super().__init__(f"{self.path}: {problem}")


class ConstraintError(InvalidInputError):
  """Contact constraints cannot be built: unknown region names, too many assignments, ..."""


class LMMError(PoseJaxError, RuntimeError):
  """A language-model request failed for good (after retries), or the cache cannot answer."""


class LMMRefusalError(LMMError):
  """The language model refused to answer about an image (every answer was a refusal).

  Attributes:
    path: the image.
  """

  def __init__(self, path: str | os.PathLike, problem: str):
    self.path = os.fspath(path)
    self.problem = problem
    super().__init__(f"{self.path}: {problem}")


class PoseJaxWarning(UserWarning):
  """Something posejax did that the caller should look at, although nothing failed (a fit that did
  not converge, answers that look like another prompt's)."""
