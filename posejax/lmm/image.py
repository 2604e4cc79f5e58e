"""Image preparation for the language model: crop to the people, paint others out, resize, encode.

The content hash that keys the answer cache is taken over the prepared RGB pixels and the JPEG
quality, not the JPEG bytes, so that another JPEG encoder build does not invalidate paid answers.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io

import numpy as np

from posejax.errors import InvalidInputError
from posejax.images import as_rgb


@dataclasses.dataclass(frozen=True)
class PreparedImage:
  """An image ready to send."""

  jpeg: bytes
  content_hash: str  # sha256 hex of the prepared pixels and the JPEG quality (see the module)
  crop_box: tuple[int, int, int, int]  # (x0, y0, x1, y1) pixels, right/bottom exclusive
  scale: float  # prepared size over crop size (<= 1)
  size: tuple[int, int]  # (width, height) of the prepared image, pixels

  @property
  def base64(self) -> str:
    """The JPEG as base64 text, as it goes into a ``data:image/jpeg;base64,`` URL."""
    return base64.b64encode(self.jpeg).decode("ascii")


def keypoint_box(keypoints, *, min_confidence: float = 0.1) -> tuple[float, float, float, float] | None:
  """The box around the confident keypoints of all the given people.

  Args:
    keypoints: ``(K, 2|3)`` or ``(P, K, 2|3)`` pixels ``(x, y[, confidence])``.
    min_confidence: keypoints with a lower confidence (third column) are ignored.

  Returns:
    ``(x0, y0, x1, y1)`` in pixels, or None when no keypoint is confident.

  Raises:
    InvalidInputError: when the array does not end in 2 or 3 columns.
  """
  points = np.asarray(keypoints, dtype=np.float64)
  if points.ndim < 2 or points.shape[-1] not in (2, 3):
    raise InvalidInputError(
        f"keypoints must have shape (K, 2|3) or (P, K, 2|3) in pixels, got {points.shape}")
  points = points.reshape(-1, points.shape[-1])
  good = np.all(np.isfinite(points[:, :2]), axis=1)
  if points.shape[1] == 3:
    good &= points[:, 2] >= min_confidence
  if not np.any(good):
    return None
  xy = points[good, :2]
  return (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))


def prepare_image(image, *, keypoints=None, paint_out=None, margin: float = 0.2,
                  max_side: int = 1024, quality: int = 90, fill=(128, 128, 128),
                  min_confidence: float = 0.1) -> PreparedImage:
  """Crops, masks, resizes and encodes one image for the model.

  Args:
    image: a file path, a PIL image, or an ``(H, W, 3)`` uint8 array.
    keypoints: optional ``(K, 2|3)`` or ``(P, K, 2|3)`` keypoints in pixels of the people to keep;
      the crop is their box grown by ``margin`` on every side. None keeps the whole image.
    paint_out: optional ``(H, W)`` boolean mask, True on pixels of people the question is not about;
      those pixels are filled with ``fill`` before cropping.
    margin: the crop margin as a fraction of the box's longer side.
    max_side: the prepared image's longer side at most, pixels (only shrinks, never enlarges).
    quality: JPEG quality, 1..95.
    fill: RGB colour painted over ``paint_out``.
    min_confidence: keypoints below this confidence do not count for the box.

  Raises:
    FileFormatError: when the file cannot be read as an image.
    InvalidInputError: on arrays or masks of the wrong shape, or settings out of range.
  """
  from PIL import Image

  if not 1 <= int(quality) <= 95:
    raise InvalidInputError(f"quality must be in 1..95, got {quality}")
  if int(max_side) < 16:
    raise InvalidInputError(f"max_side must be at least 16 pixels, got {max_side}")
  if not margin >= 0:
    raise InvalidInputError(f"margin must be >= 0, got {margin}")
  rgb = as_rgb(image)
  height, width = rgb.shape[:2]
  if paint_out is not None:
    mask = np.asarray(paint_out).astype(bool)
    if mask.shape != (height, width):
      raise InvalidInputError(
          f"paint_out must be an (H, W) = ({height}, {width}) mask, got shape {mask.shape}")
    rgb = rgb.copy()
    rgb[mask] = np.asarray(fill, dtype=np.uint8)
  box = (0, 0, width, height)
  if keypoints is not None:
    found = keypoint_box(keypoints, min_confidence=min_confidence)
    if found is not None:
      x0, y0, x1, y1 = found
      grow = margin * max(x1 - x0, y1 - y0, 1.0)
      box = (max(0, int(np.floor(x0 - grow))), max(0, int(np.floor(y0 - grow))),
             min(width, int(np.ceil(x1 + grow)) + 1), min(height, int(np.ceil(y1 + grow)) + 1))
      if box[2] <= box[0] or box[3] <= box[1]:  # keypoints entirely outside the image
        box = (0, 0, width, height)
  crop = Image.fromarray(rgb[box[1]:box[3], box[0]:box[2]])
  longer = max(crop.size)
  scale = min(1.0, int(max_side) / longer)
  if scale < 1.0:
    new_size = (max(1, round(crop.size[0] * scale)), max(1, round(crop.size[1] * scale)))
    crop = crop.resize(new_size, Image.Resampling.LANCZOS)
  pixels = np.asarray(crop)
  hasher = hashlib.sha256()
  hasher.update(f"{pixels.shape}|q{int(quality)}|".encode("ascii"))
  hasher.update(pixels.tobytes())
  buffer = io.BytesIO()
  crop.save(buffer, format="JPEG", quality=int(quality))
  return PreparedImage(jpeg=buffer.getvalue(), content_hash=hasher.hexdigest(), crop_box=box,
                       scale=float(scale), size=crop.size)
