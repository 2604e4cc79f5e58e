"""Tests of posejax.lmm.image: crop to keypoints, paint-out, resize, JPEG encoding, content hash."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax.lmm.image import keypoint_box
from posejax.lmm.image import prepare_image


def _image(height=120, width=200, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _decode(prepared):
  return np.asarray(Image.open(io.BytesIO(base64.b64decode(prepared.base64))))


def test_keypoint_box_ignores_unconfident_and_nonfinite_points():
  points = np.array([[[10, 20, 0.9], [50, 60, 0.8], [500, 500, 0.05]],
                     [[30, 5, 0.7], [np.nan, 3, 1.0], [0, 0, 0.0]]])
  assert keypoint_box(points) == (10.0, 5.0, 50.0, 60.0)
  assert keypoint_box(points[..., :2][0]) == (10.0, 20.0, 500.0, 500.0)
  assert keypoint_box(np.zeros((3, 3))) is None
  with pytest.raises(InvalidInputError, match="keypoints"):
    keypoint_box(np.zeros((3, 4)))


def _smooth(height=120, width=200):
  y, x = np.mgrid[:height, :width]
  return np.stack([x, 2 * y, (x + y) // 2], axis=-1).astype(np.uint8)


def test_crop_to_keypoints_with_margin():
  image = _smooth()
  keypoints = np.array([[40, 30, 1.0], [80, 70, 1.0]])  # 40 x 40 box
  prepared = prepare_image(image, keypoints=keypoints, margin=0.25, quality=95)
  # 10 pixels of margin on each side; right and bottom exclusive.
  assert prepared.crop_box == (30, 20, 91, 81)
  assert prepared.size == (61, 61)
  assert prepared.scale == 1.0
  decoded = _decode(prepared).astype(float)
  expected = image[20:81, 30:91].astype(float)
  assert decoded.shape == expected.shape
  assert np.abs(decoded - expected).mean() < 2.0
  shifted = image[21:82, 31:92].astype(float)  # one pixel off in x and y
  assert np.abs(decoded - shifted).mean() > 1.5 * np.abs(decoded - expected).mean()


def test_crop_is_clipped_to_the_image_and_resized():
  image = _image(300, 400)
  prepared = prepare_image(image, keypoints=np.array([[0, 0], [399, 299]]), margin=0.5,
                           max_side=100)
  assert prepared.crop_box == (0, 0, 400, 300)
  assert prepared.size == (100, 75)
  assert prepared.scale == pytest.approx(0.25)
  assert _decode(prepared).shape == (75, 100, 3)


def test_paint_out_fills_the_mask():
  image = np.full((50, 50, 3), 200, np.uint8)
  mask = np.zeros((50, 50), bool)
  mask[:, 25:] = True
  decoded = _decode(prepare_image(image, paint_out=mask, fill=(0, 0, 0), quality=95)).astype(int)
  assert np.abs(decoded[:, :20] - 200).max() <= 3
  assert decoded[:, 30:].max() <= 3
  with pytest.raises(InvalidInputError, match="paint_out"):
    prepare_image(image, paint_out=np.zeros((10, 10), bool))


def test_content_hash_follows_the_pixels_sent():
  image = _image()
  first = prepare_image(image)
  assert prepare_image(image.copy()).content_hash == first.content_hash
  changed = image.copy()
  changed[0, 0, 0] ^= 1
  assert prepare_image(changed).content_hash != first.content_hash
  assert prepare_image(image, quality=80).content_hash != first.content_hash
  assert prepare_image(image, max_side=50).content_hash != first.content_hash


def test_reads_files_and_reports_bad_ones(tmp_path):
  path = tmp_path / "scene.png"
  image = _image(30, 40)
  Image.fromarray(image).save(path)
  assert prepare_image(path).content_hash == prepare_image(image).content_hash
  assert prepare_image(str(path)).size == (40, 30)
  with pytest.raises(FileFormatError, match="not found"):
    prepare_image(tmp_path / "missing.jpg")
  (tmp_path / "bad.jpg").write_bytes(b"not an image")
  with pytest.raises(FileFormatError, match="cannot read"):
    prepare_image(tmp_path / "bad.jpg")


def test_rejects_bad_arrays_and_settings():
  with pytest.raises(InvalidInputError, match="image"):
    prepare_image(np.zeros((4, 4, 5), np.uint8))
  with pytest.raises(InvalidInputError, match="quality"):
    prepare_image(_image(), quality=0)
  with pytest.raises(InvalidInputError, match="max_side"):
    prepare_image(_image(), max_side=4)
  grey = prepare_image(np.zeros((8, 8), np.uint8))
  assert grey.size == (8, 8)
