"""Images as arrays: a file, a PIL image or an array read as (H, W, 3) uint8 RGB.

Imports numpy only (pillow when a file or PIL image is read), so that ``posejax.lmm`` and
``posejax.viz`` can both use it without pulling in jax.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError


def as_rgb(image) -> np.ndarray:
  """An image file, a PIL image or an array as a new (H, W, 3) uint8 RGB array.

  Grey arrays are repeated into three channels and alpha is dropped. Float arrays whose largest
  value is at most 1 are scaled from [0, 1] (rounded half up); every other array is clipped to
  0..255 (300 becomes 255, not 300 mod 256). NaN counts as 0.

  Args:
    image: a file path (JPEG, PNG or anything else pillow reads), a ``PIL.Image.Image``, or an
      ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` array.

  Returns:
    (H, W, 3) uint8 array, C-contiguous, sharing no memory with the input.

  Raises:
    FileFormatError: the file is missing or not an image pillow can read.
    InvalidInputError: an array of another shape, or with no pixels.
  """
  if isinstance(image, (str, os.PathLike)):
    return _read_rgb_file(image)
  pil_image = sys.modules.get("PIL.Image")  # a PIL image exists only once pillow is imported
  if pil_image is not None and isinstance(image, pil_image.Image):
    return np.array(image.convert("RGB"), dtype=np.uint8)
  array = np.asarray(image)
  if array.ndim == 2:
    array = np.repeat(array[:, :, None], 3, axis=2)
  if array.ndim != 3 or array.shape[2] not in (3, 4) or array.shape[0] < 1 or array.shape[1] < 1:
    raise InvalidInputError(
        "image must be a path, a PIL image or an (H, W, 3), (H, W, 4) or (H, W) array, got an "
        f"array of shape {array.shape}")
  array = array[:, :, :3]
  if array.dtype != np.uint8:
    if np.issubdtype(array.dtype, np.floating):
      array = np.nan_to_num(array)
      if array.size and float(array.max()) <= 1.0:
        array = array * 255.0 + 0.5
    array = np.clip(array, 0, 255).astype(np.uint8)
  return np.array(array, dtype=np.uint8, order="C")


def _read_rgb_file(path: str | os.PathLike) -> np.ndarray:
  from PIL import Image  # pillow only when an image is read; keeps `import posejax.lmm` light.

  if not os.path.isfile(path):
    raise FileFormatError(path, "image file not found")
  try:
    with Image.open(path) as opened:
      return np.array(opened.convert("RGB"), dtype=np.uint8)
  except Exception as error:  # pillow raises many types for a bad file
    raise FileFormatError(path, f"cannot read the image ({type(error).__name__}: {error}); "
                          "expected a JPEG or PNG file") from None
