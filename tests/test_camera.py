"""Tests of posejax.camera: the reference camera, intrinsics, projection and its gradients."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posejax import camera as cam
from posejax.errors import InvalidInputError


def test_reference_camera_intrinsics():
  camera = cam.reference_camera(640, 480)
  focal = 640 / (2 * math.tan(math.radians(30)))
  np.testing.assert_allclose(np.asarray(camera.focal_length), [focal, focal], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(camera.principal_point), [320, 240])
  np.testing.assert_allclose(np.asarray(camera.image_size), [640, 480])
  portrait = cam.reference_camera(300, 900)
  np.testing.assert_allclose(np.asarray(portrait.focal_length), 900 / (2 * math.tan(math.pi / 6)), rtol=1e-6)
  np.testing.assert_allclose(cam.reference_focal_length(300, 900), 779.4228634059948, rtol=1e-12)


def test_point_on_the_optical_axis_hits_the_principal_point():
  camera = cam.reference_camera(640, 480)
  uv = cam.project(camera, jnp.array([[0.0, 0.0, 3.0], [0.0, 0.0, 40.0]]))
  np.testing.assert_allclose(np.asarray(uv), [[320, 240], [320, 240]], atol=1e-4)


def test_known_projections_follow_the_opencv_convention(x64):
  camera = cam.Camera.from_intrinsics((500.0, 400.0), (100.0, 50.0), (200, 100), dtype=jnp.float64)
  points = jnp.array([[1.0, 0.5, 2.0], [-0.2, -0.4, 4.0]])
  expected = [[100 + 500 * 0.5, 50 + 400 * 0.25], [100 - 500 * 0.05, 50 - 400 * 0.1]]
  np.testing.assert_allclose(np.asarray(cam.project(camera, points)), expected, rtol=1e-12)
  # +x goes right and +y goes down the image: the camera space is x right, y down, z forward.
  right, below = cam.project(camera, jnp.array([[0.1, 0.0, 1.0], [0.0, 0.1, 1.0]]))
  assert right[0] > 100 and below[1] > 50


def test_extrinsics_map_world_points_first(x64):
  quarter = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # 90 deg about y
  camera = cam.Camera.from_intrinsics(
      600.0, (320.0, 240.0), (640, 480), rotation=quarter, translation=[0.1, 0.2, 3.0],
      dtype=jnp.float64,
  )
  point = np.array([0.5, -0.3, 0.2])
  x, y, z = quarter @ point + np.array([0.1, 0.2, 3.0])
  np.testing.assert_allclose(
      np.asarray(cam.project(camera, jnp.asarray(point))), [320 + 600 * x / z, 240 + 600 * y / z],
      rtol=1e-12,
  )
  np.testing.assert_allclose(np.asarray(cam.to_camera_frame(camera, point)), [x, y, z], rtol=1e-12)


def test_batched_points_and_vmapped_cameras():
  cameras = jax.tree.map(
      lambda *xs: jnp.stack(xs), cam.reference_camera(640, 480), cam.reference_camera(1000, 500)
  )
  points = jnp.tile(jnp.array([0.2, -0.1, 2.0]), (2, 5, 4, 1))
  uv = jax.vmap(cam.project)(cameras, points)
  assert uv.shape == (2, 5, 4, 2)
  alone = cam.project(cam.reference_camera(1000, 500), points[1, 0, 0])
  np.testing.assert_allclose(np.asarray(uv[1, 0, 0]), np.asarray(alone), rtol=1e-6)


def test_points_at_or_behind_the_camera_stay_finite_with_finite_gradients():
  camera = cam.reference_camera(640, 480)
  points = jnp.array([[0.3, 0.2, 0.0], [0.3, -0.2, -1.0], [0.0, 0.0, 0.0], [0.1, 0.1, 1e-9]])
  uv = cam.project(camera, points)
  assert np.all(np.isfinite(np.asarray(uv)))
  grads = jax.grad(lambda p: jnp.sum(cam.project(camera, p) ** 2))(points)
  assert np.all(np.isfinite(np.asarray(grads)))
  assert np.all(np.asarray(grads)[:, 2] == 0.0)  # no pull through the clamped depth


def test_projection_gradient_matches_finite_differences(x64):
  camera = cam.reference_camera(640, 480, dtype=jnp.float64)
  point = jnp.array([0.3, -0.2, 2.5])
  weights = jnp.array([0.7, -1.3])
  loss = lambda p: jnp.dot(cam.project(camera, p), weights)  # noqa: E731
  grad = np.asarray(jax.grad(loss)(point))
  step = 1e-6
  numeric = [(loss(point + step * e) - loss(point - step * e)) / (2 * step) for e in np.eye(3)]
  np.testing.assert_allclose(grad, np.asarray(numeric), rtol=1e-6)
  f = float(camera.focal_length[0])
  x, y, z = 0.3, -0.2, 2.5
  analytic = [0.7 * f / z, -1.3 * f / z, -(0.7 * f * x - 1.3 * f * y) / z**2]
  np.testing.assert_allclose(grad, analytic, rtol=1e-10)


def test_jit_compiles_once_per_shape():
  camera = cam.reference_camera(640, 480)
  traces = []

  @jax.jit
  def run(camera, points):
    traces.append(1)
    return cam.project(camera, points)

  for width in (640, 800, 1024):
    run(cam.reference_camera(width, 480), jnp.ones((7, 3)))
  assert len(traces) == 1
  run(camera, jnp.ones((8, 3)))
  assert len(traces) == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(focal_length=-1.0, principal_point=(1, 1), image_size=(2, 2)), "focal_length"),
        (dict(focal_length=(1.0, 2.0, 3.0), principal_point=(1, 1), image_size=(2, 2)), "shape"),
        (dict(focal_length=1.0, principal_point=(1, np.nan), image_size=(2, 2)), "finite"),
        (dict(focal_length=1.0, principal_point=(1, 1), image_size=(0, 2)), "image_size"),
        (dict(focal_length=1.0, principal_point=(1, 1), image_size=(2, 2),
              rotation=2 * np.eye(3)), "rotation"),
        (dict(focal_length=1.0, principal_point=(1, 1), image_size=(2, 2),
              rotation=-np.eye(3)), "rotation"),
    ],
)
def test_bad_intrinsics_are_rejected(kwargs, message):
  with pytest.raises(InvalidInputError, match=message):
    cam.Camera.from_intrinsics(**kwargs)


def test_bad_sizes_and_points_are_rejected():
  with pytest.raises(InvalidInputError):
    cam.reference_camera(0, 480)
  with pytest.raises(InvalidInputError):
    cam.reference_camera(640, -1)
  with pytest.raises(InvalidInputError, match="points"):
    cam.project(cam.reference_camera(640, 480), jnp.ones((4, 2)))
