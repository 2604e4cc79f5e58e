"""posejax.images.as_rgb: files, PIL images and arrays of every layout read as (H, W, 3) uint8."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax.images import as_rgb


def test_arrays_of_every_layout_become_rgb_uint8():
  grey = np.array([[0, 200]], dtype=np.uint8)
  np.testing.assert_array_equal(as_rgb(grey), [[[0, 0, 0], [200, 200, 200]]])
  rgba = np.array([[[1, 2, 3, 4]]], dtype=np.uint8)
  np.testing.assert_array_equal(as_rgb(rgba), [[[1, 2, 3]]])
  unit = np.array([[[0.0, 0.5, 1.0]]])
  np.testing.assert_array_equal(as_rgb(unit), [[[0, 128, 255]]])
  wide = np.array([[[-3.0, 100.4, 999.0]]])  # a float array beyond 1 is read as 0..255
  np.testing.assert_array_equal(as_rgb(wide), [[[0, 100, 255]]])
  integers = np.array([[[300, -5, 7]]], dtype=np.int64)
  np.testing.assert_array_equal(as_rgb(integers), [[[255, 0, 7]]])
  missing = np.array([[[np.nan, 0.25, 1.0]]])
  np.testing.assert_array_equal(as_rgb(missing), [[[0, 64, 255]]])
  for array in (grey, rgba, unit, integers):
    assert as_rgb(array).dtype == np.uint8 and as_rgb(array).flags.c_contiguous


def test_returns_a_copy():
  image = np.zeros((2, 3, 3), np.uint8)
  rgb = as_rgb(image)
  rgb[:] = 9
  assert not image.any()


def test_reads_files_and_pil_images(tmp_path):
  pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
  path = tmp_path / "scene.png"
  Image.fromarray(pixels).save(path)
  np.testing.assert_array_equal(as_rgb(path), pixels)
  np.testing.assert_array_equal(as_rgb(str(path)), pixels)
  np.testing.assert_array_equal(as_rgb(Image.fromarray(pixels).convert("RGBA")), pixels)
  assert as_rgb(Image.fromarray(pixels[:, :, 0])).shape == (2, 3, 3)


def test_reports_bad_files_and_arrays(tmp_path):
  with pytest.raises(FileFormatError, match="missing.png: image file not found"):
    as_rgb(tmp_path / "missing.png")
  (tmp_path / "bad.jpg").write_bytes(b"not an image")
  with pytest.raises(FileFormatError, match="bad.jpg: cannot read the image"):
    as_rgb(tmp_path / "bad.jpg")
  with pytest.raises(InvalidInputError, match="image must be"):
    as_rgb(np.zeros((4, 4, 5), np.uint8))
  with pytest.raises(InvalidInputError, match="image must be"):
    as_rgb(np.zeros((0, 4, 3), np.uint8))

