"""The proxy cut into closed limb parts: every part closed, the parts' winding numbers summing to
the whole proxy's, and the per-part inside test agreeing with the whole-proxy one."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from posejax import body as posejax_body
from posejax.body import BodyParams
from posejax.body import forward
from posejax.losses import penetration as pen
from posejax.losses import proxy_parts

inside_mask = jax.jit(pen.inside_mask, static_argnames=("threshold", "chunk_size"))


@pytest.fixture(scope="module")
def model_and_proxy():
  model = posejax_body.default_model()
  return model, pen.build_model_proxy(model)


def _whole(proxy):
  return pen.PenetrationProxy(vertex_ids=proxy.vertex_ids, triangle_ids=proxy.triangle_ids)


def _part_triangles(proxy):
  """The parts (their blocks joined) without degenerate padding, as numpy (T_k, 3) arrays."""
  blocks, owner = (np.asarray(a) for a in proxy.blocks())
  parts = [np.concatenate(list(blocks[owner == k])) for k in np.unique(owner)]
  return [part[~((part[:, 0] == part[:, 1]) & (part[:, 1] == part[:, 2]))] for part in parts]


def test_default_body_proxy_has_closed_limb_parts(model_and_proxy):
  model, proxy = model_and_proxy
  parts = _part_triangles(proxy)
  assert len(parts) >= 8  # torso, head, four arm and four leg pieces, unless some merged
  for part in parts:
    assert proxy_parts.is_closed(part)
  # Every proxy triangle is in a part; the rest are caps (a cap may repeat a triangle of the
  # other side, which its reversed twin then cancels).
  original = {tuple(t) for t in np.asarray(proxy.triangle_ids).tolist()}
  assert original <= {tuple(t) for part in parts for t in part.tolist()}
  assert len(original) < sum(len(part) for part in parts) < 1.5 * len(original)


def test_parts_sum_to_the_whole_winding_number(model_and_proxy, x64):
  model, proxy = model_and_proxy
  vertices = jnp.asarray(np.asarray(model.v_template), jnp.float64)
  rng = np.random.default_rng(0)
  low, high = np.asarray(vertices).min(0) - 0.1, np.asarray(vertices).max(0) + 0.1
  points = jnp.asarray(rng.uniform(low, high, size=(2000, 3)))
  whole = pen.winding_numbers(points, pen.proxy_triangles(_whole(proxy), vertices))
  parts = sum(pen.winding_numbers(points, vertices[part]) for part in _part_triangles(proxy))
  np.testing.assert_allclose(parts, whole, atol=1e-9)
  assert 0.01 < float(jnp.mean(whole > 0.99)) < 0.5  # the test holds inside points too


def test_per_part_inside_test_equals_the_whole_proxy_on_posed_people(model_and_proxy):
  model, proxy = model_and_proxy
  rng = np.random.default_rng(1)
  params = BodyParams.zeros(model, (3, 2))
  pose = rng.normal(scale=0.4, size=params.body_pose.shape)
  offset = np.zeros((3, 2, 3))
  offset[:, 1] = [[0.1, 0.0, 0.05], [0.3, 0.1, 0.0], [2.0, 0.0, 0.0]]  # deep, shallow, apart
  vertices = forward(model, params.replace(body_pose=jnp.asarray(pose, jnp.float32),
                                           transl=jnp.asarray(offset, jnp.float32))).vertices
  queries = vertices[:, 0][:, np.asarray(proxy.vertex_ids)]
  by_parts = jax.jit(jax.vmap(lambda q, v: pen.inside_mask(q, v, proxy)))(queries, vertices[:, 1])
  whole = jax.jit(jax.vmap(lambda q, v: pen.inside_mask(q, v, _whole(proxy))))(queries,
                                                                               vertices[:, 1])
  np.testing.assert_array_equal(by_parts, whole)
  counts = np.asarray(whole).sum(axis=1)
  assert counts[0] > counts[1] > 0 and counts[2] == 0


@pytest.mark.parametrize("seed", range(4))
def test_any_labels_give_closed_parts_that_sum_to_the_whole(seed, x64):
  """Random labels make cuts where three parts meet and loops that touch themselves: the repair
  (or, failing that, one part) must still give closed parts whose winding numbers add up."""
  sphere = trimesh.creation.icosphere(subdivisions=2)
  vertices = np.asarray(sphere.vertices)
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(4, 3))
  labels = np.argmax(vertices @ centres.T + rng.normal(scale=0.3, size=(len(vertices), 4)), axis=1)
  parts = proxy_parts.closed_parts(np.asarray(sphere.faces), labels)
  for part in parts:
    assert proxy_parts.is_closed(part)
  points = rng.uniform(-1.2, 1.2, size=(300, 3))
  whole = pen.winding_numbers(points, vertices[np.asarray(sphere.faces)])
  summed = sum(pen.winding_numbers(points, vertices[part]) for part in parts)
  np.testing.assert_allclose(summed, whole, atol=1e-9)


def test_limb_labels_follow_the_skeleton(model_and_proxy):
  model, _ = model_and_proxy
  labels = proxy_parts.limb_labels(model.joint_names, model.parents, model.lbs_weights)
  dominant = np.argmax(np.asarray(model.lbs_weights), axis=1)
  names = list(model.joint_names)
  part = lambda joint: 1 + proxy_parts.CUT_JOINTS.index(joint)
  assert set(labels[dominant == names.index("left_wrist")]) == {part("left_elbow")}
  assert set(labels[dominant == names.index("right_knee")]) == {part("right_knee")}
  assert set(labels[dominant == names.index("head")]) == {part("neck")}
  assert set(labels[dominant == names.index("spine2")]) == {0}
