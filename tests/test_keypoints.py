"""Tests of posejax.body.keypoints: SMPL-X to BODY_25 / COCO-17, ViTPose COCO to BODY_25."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from smplx.joint_names import JOINT_NAMES as SMPLX_OUTPUT_NAMES
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

from posejax.body import keypoints as kp
from posejax.body.model import SMPLX_VERTEX_JOINT_IDS
from posejax.body.model import VERTEX_JOINT_NAMES
from posejax.errors import InvalidInputError

# BODY_25 / COCO names -> the smplx package's joint-output names (only where they differ).
_SMPLX_NAME = {"mid_hip": "pelvis"}


def test_body25_indices_match_the_smplx_joint_names():
  expected = [SMPLX_OUTPUT_NAMES.index(_SMPLX_NAME.get(n, n)) for n in kp.BODY_25_NAMES]
  assert kp.SMPLX_TO_BODY_25.tolist() == expected
  # METHOD.md's published list.
  assert kp.SMPLX_TO_BODY_25.tolist() == [55, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7] + list(
      range(56, 66))


def test_vertex_joint_table_matches_the_smplx_package():
  ids = SMPLX_VERTEX_IDS["smplx"]
  smplx_key = {
      "nose": "nose", "right_eye": "reye", "left_eye": "leye", "right_ear": "rear",
      "left_ear": "lear", "left_big_toe": "LBigToe", "left_small_toe": "LSmallToe",
      "left_heel": "LHeel", "right_big_toe": "RBigToe", "right_small_toe": "RSmallToe",
      "right_heel": "RHeel",
  }
  for name, vertex in zip(VERTEX_JOINT_NAMES, SMPLX_VERTEX_JOINT_IDS):
    key = smplx_key.get(name) or name[0] + name.split("_")[1]  # left_thumb -> lthumb
    assert ids[key] == vertex, name
  for offset, name in enumerate(VERTEX_JOINT_NAMES):
    output_name = SMPLX_OUTPUT_NAMES[kp.FIRST_VERTEX_JOINT + offset]
    assert output_name == name, (output_name, name)


def test_smplx_maps_gather_batched_joints():
  joints = jnp.arange(2 * 3 * 127 * 3, dtype=jnp.float32).reshape(2, 3, 127, 3)
  body25 = kp.smplx_to_body25(joints)
  assert body25.shape == (2, 3, 25, 3)
  np.testing.assert_array_equal(body25[1, 2, 8], joints[1, 2, 0])  # mid-hip is the pelvis
  np.testing.assert_array_equal(body25[1, 2, 0], joints[1, 2, 55])  # nose
  assert jax.jit(kp.smplx_to_body25)(joints).shape == (2, 3, 25, 3)


@pytest.mark.parametrize("shape", [(127,), (60, 3), (127, 2)])
def test_smplx_maps_reject_bad_shapes(shape):
  with pytest.raises(InvalidInputError, match="joints"):
    kp.smplx_to_body25(np.zeros(shape))


def _coco17(rng, count=None):
  shape = (17, 3) if count is None else (count, 17, 3)
  points = rng.uniform(0, 500, size=shape)
  points[..., 2] = rng.uniform(0.5, 1.0, size=shape[:-1])
  return points


def test_coco17_to_body25_moves_each_point_by_name():
  rng = np.random.default_rng(0)
  coco = _coco17(rng)
  body25 = np.asarray(kp.coco_to_body25(coco))
  assert body25.shape == (25, 3)
  for i, name in enumerate(kp.COCO_17_NAMES):
    np.testing.assert_allclose(body25[kp.BODY_25_NAMES.index(name)], coco[i], rtol=1e-6)
  shoulders = coco[[5, 6]]
  neck = body25[kp.BODY_25_NAMES.index("neck")]
  np.testing.assert_allclose(neck[:2], shoulders[:, :2].mean(axis=0), rtol=1e-6)
  np.testing.assert_allclose(neck[2], shoulders[:, 2].min(), rtol=1e-6)
  mid_hip = body25[kp.BODY_25_NAMES.index("mid_hip")]
  np.testing.assert_allclose(mid_hip[:2], coco[[11, 12], :2].mean(axis=0), rtol=1e-6)
  for name in kp.COCO_WHOLEBODY_FOOT_NAMES:
    np.testing.assert_array_equal(body25[kp.BODY_25_NAMES.index(name)], 0.0)


def test_wholebody_supplies_the_feet_and_ignores_face_and_hands():
  rng = np.random.default_rng(1)
  whole = rng.uniform(0, 500, size=(4, 133, 3))
  whole[..., 2] = rng.uniform(0.5, 1.0, size=(4, 133))
  body25 = np.asarray(kp.coco_to_body25(whole))
  assert body25.shape == (4, 25, 3)
  for j, name in enumerate(kp.COCO_WHOLEBODY_FOOT_NAMES):
    np.testing.assert_allclose(body25[:, kp.BODY_25_NAMES.index(name)], whole[:, 17 + j], rtol=1e-6)
  from_body_only = np.asarray(kp.coco_to_body25(whole[:, :17]))
  feet = [kp.BODY_25_NAMES.index(n) for n in kp.COCO_WHOLEBODY_FOOT_NAMES]
  np.testing.assert_array_equal(np.delete(body25, feet, axis=1), np.delete(from_body_only, feet, axis=1))
  changed = whole.copy()
  changed[:, 23:] = -1.0
  np.testing.assert_array_equal(np.asarray(kp.coco_to_body25(changed)), body25)


def test_midpoints_need_both_parents_confident():
  rng = np.random.default_rng(2)
  coco = _coco17(rng, count=3)
  coco[0, 5, 2] = 0.1  # left shoulder unsure: no neck in person 0
  coco[1, 12, 2] = 0.0  # right hip missing: no mid-hip in person 1
  body25 = np.asarray(kp.coco_to_body25(coco, min_confidence=0.2))
  neck, mid_hip = kp.BODY_25_NAMES.index("neck"), kp.BODY_25_NAMES.index("mid_hip")
  np.testing.assert_array_equal(body25[0, neck], 0.0)
  assert body25[0, mid_hip, 2] > 0
  np.testing.assert_array_equal(body25[1, mid_hip], 0.0)
  assert body25[1, neck, 2] > 0
  assert (body25[2, [neck, mid_hip], 2] > 0).all()
  reference_style = np.asarray(kp.coco_to_body25(coco, derive_neck_and_mid_hip=False))
  np.testing.assert_array_equal(reference_style[:, [neck, mid_hip]], 0.0)


@pytest.mark.parametrize("shape", [(18, 3), (17, 2), (17,), (132, 3)])
def test_coco_conversion_rejects_bad_shapes(shape):
  with pytest.raises(InvalidInputError, match="coco_to_body25"):
    kp.coco_to_body25(np.zeros(shape))


def test_integer_keypoints_become_floats():
  coco = np.ones((17, 3), dtype=np.int32)
  assert jnp.issubdtype(kp.coco_to_body25(coco).dtype, jnp.floating)
