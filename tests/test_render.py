"""The software renderer: projection, z-buffer, views, overlays."""

import numpy as np
import pytest
import trimesh

from posejax.errors import InvalidInputError
from posejax.viz.render import render_mesh
from posejax.viz.render import view_rotation


def _square(center, size, z):
  """Two triangles facing +z: an axis-aligned square in the plane at depth z."""
  cx, cy = center
  h = size / 2
  vertices = np.array([[cx - h, cy - h, z], [cx + h, cy - h, z], [cx + h, cy + h, z],
                       [cx - h, cy + h, z]])
  return vertices, np.array([[0, 1, 2], [0, 2, 3]])


def test_orthographic_fit_and_background():
  sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
  image = render_mesh(sphere.vertices, sphere.faces, image_size=(60, 80),
                      background=(255, 0, 255))
  assert image.shape == (60, 80, 3) and image.dtype == np.uint8
  assert (image[0, 0] == (255, 0, 255)).all() and (image[-1, -1] == (255, 0, 255)).all()
  covered = ~(image == (255, 0, 255)).all(axis=2)
  # A disc of about 90% of the image height, centred.
  rows, cols = np.nonzero(covered)
  assert abs(rows.mean() - 29.5) < 1.0 and abs(cols.mean() - 39.5) < 1.0
  assert 48 <= rows.max() - rows.min() + 1 <= 56
  assert abs(covered.sum() - np.pi * 27 ** 2) < 0.1 * np.pi * 27 ** 2


def test_nearer_surface_wins():
  near_v, near_f = _square((0.0, 0.0), 1.0, 0.5)
  far_v, far_f = _square((0.3, 0.0), 1.0, -0.5)
  vertices = np.concatenate([far_v, near_v])
  faces = np.concatenate([far_f, near_f + 4])
  colours = np.concatenate([np.tile([0.0, 0.0, 1.0], (4, 1)), np.tile([1.0, 0.0, 0.0], (4, 1))])
  image = render_mesh(vertices, faces, vertex_colors=colours, image_size=64, ambient=1.0,
                      pixels_per_metre=40.0, center=(0.0, 0.0, 0.0))
  centre = image[32, 32]
  assert centre[0] > 200 and centre[2] < 50  # the near (red) square hides the far one
  right = image[32, 32 + 24]  # only the far square reaches x = 0.6
  assert right[2] > 200 and right[0] < 50
  # From behind the order flips.
  back = render_mesh(vertices, faces, vertex_colors=colours, view="back", image_size=64,
                     ambient=1.0, pixels_per_metre=40.0, center=(0.0, 0.0, 0.0))
  assert back[32, 32][2] > 200


def test_views():
  front = view_rotation("front")
  np.testing.assert_allclose(front, np.eye(3), atol=1e-12)
  left = view_rotation("left")
  # Seen from its left side, the body's front points to the image's left and its left side
  # towards the viewer.
  np.testing.assert_allclose(left @ [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], atol=1e-12)
  np.testing.assert_allclose(left @ [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], atol=1e-12)
  np.testing.assert_allclose(view_rotation(90.0), left, atol=1e-12)
  np.testing.assert_allclose(view_rotation("side"), left, atol=1e-12)
  top = view_rotation("top")
  np.testing.assert_allclose(top @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], atol=1e-12)
  with pytest.raises(InvalidInputError, match="view"):
    view_rotation("diagonal")


def test_pinhole_camera_overlay():
  vertices, faces = _square((0.1, -0.05), 0.02, 2.0)
  photo = np.zeros((100, 120, 3), np.uint8)
  image = render_mesh(vertices, faces, background=photo, intrinsics=(200.0, 200.0, 60.0, 50.0),
                      vertex_colors=(1.0, 1.0, 1.0), ambient=1.0)
  covered = np.argwhere(image.max(axis=2) > 0)
  # x = 200 * 0.1 / 2 + 60 = 70; y = 200 * -0.05 / 2 + 50 = 45 (image y points down).
  np.testing.assert_allclose(covered.mean(axis=0), [45.0 - 0.5, 70.0 - 0.5], atol=0.6)
  assert photo.max() == 0  # the background image is not changed in place


def test_bad_input():
  with pytest.raises(InvalidInputError, match="vertices"):
    render_mesh(np.zeros((3, 2)), np.array([[0, 1, 2]]))
  with pytest.raises(InvalidInputError, match="faces"):
    render_mesh(np.zeros((3, 3)), np.array([[0, 1, 5]]))
  with pytest.raises(InvalidInputError, match="vertex_colors"):
    render_mesh(np.eye(3), np.array([[0, 1, 2]]), vertex_colors=np.zeros((2, 3)))
