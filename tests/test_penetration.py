"""Winding numbers, the proxy mesh and the interpenetration penalty vs analytic and brute force."""

from __future__ import annotations

import io
import logging
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from posejax import body as posejax_body
from posejax.errors import InvalidInputError
from posejax.losses import penetration as pen
from posejax.losses import proxy_mesh


# Eager calls dispatch op by op; the tests call the jitted versions (as the fit does).
inside_mask = jax.jit(pen.inside_mask, static_argnames=("threshold", "chunk_size"))
penetration_penalty = jax.jit(pen.penetration_penalty, static_argnames=("chunk_size",))


def _triangles(mesh):
  return np.asarray(mesh.vertices)[np.asarray(mesh.faces)]


def _brute_winding(points, triangles):
  """Solid angles one triangle at a time (numpy, float64), an independent re-derivation."""
  total = np.zeros(len(points))
  for tri in triangles:
    a, b, c = tri[0] - points, tri[1] - points, tri[2] - points
    la, lb, lc = (np.linalg.norm(v, axis=1) for v in (a, b, c))
    numerator = np.einsum("ij,ij->i", a, np.cross(b, c))
    denominator = (la * lb * lc + np.einsum("ij,ij->i", a, b) * lc
                   + np.einsum("ij,ij->i", b, c) * la + np.einsum("ij,ij->i", c, a) * lb)
    total += 2 * np.arctan2(numerator, denominator)
  return total / (4 * np.pi)


def _bumpy_radius(directions):
  theta = np.arccos(np.clip(directions[:, 2], -1, 1))
  phi = np.arctan2(directions[:, 1], directions[:, 0])
  return 1.0 + 0.35 * np.sin(3 * theta) * np.cos(2 * phi)


def _bumpy_sphere():
  mesh = trimesh.creation.icosphere(subdivisions=4)
  v = np.asarray(mesh.vertices)
  return trimesh.Trimesh(v * _bumpy_radius(v)[:, None], mesh.faces, process=False)


def _shape_cases():
  rng = np.random.default_rng(0)
  cases = []
  sphere = trimesh.creation.icosphere(subdivisions=3)
  p = rng.uniform(-1.3, 1.3, size=(600, 3))
  r = np.linalg.norm(p, axis=1)
  cases.append(("sphere", sphere, p[(r < 0.9) | (r > 1.1)], (r < 0.9)[(r < 0.9) | (r > 1.1)]))
  # Near the surface: just inside and just outside every vertex (the polyhedron is convex).
  v = np.asarray(sphere.vertices)
  cases.append(("sphere-near", sphere, np.concatenate([v * (1 - 1e-3), v * (1 + 1e-3)]),
                np.repeat([True, False], len(v))))
  box = trimesh.creation.box(extents=(1.0, 2.0, 3.0))
  p = rng.uniform(-2, 2, size=(600, 3))
  cases.append(("box", box, p, np.all(np.abs(p) < np.array([0.5, 1.0, 1.5]), axis=1)))
  centres, normals = box.triangles_center, box.face_normals
  near = np.concatenate([centres - 1e-4 * normals, centres + 1e-4 * normals])
  cases.append(("box-near", box, near, np.repeat([True, False], len(centres))))
  torus = trimesh.creation.torus(major_radius=1.0, minor_radius=0.3, major_sections=48,
                                 minor_sections=24)
  p = np.concatenate([rng.uniform(-1.4, 1.4, size=(800, 3)), [[0.0, 0.0, 0.0], [0, 0, 0.2]]])
  tube = np.hypot(np.hypot(p[:, 0], p[:, 1]) - 1.0, p[:, 2])
  clear = (tube < 0.27) | (tube > 0.33)
  cases.append(("torus", torus, p[clear], (tube < 0.27)[clear]))
  bumpy = _bumpy_sphere()
  p = rng.uniform(-1.4, 1.4, size=(800, 3))
  radius = np.linalg.norm(p, axis=1)
  surface = _bumpy_radius(p / radius[:, None])
  clear = (radius < 0.95 * surface) | (radius > 1.05 * surface)
  cases.append(("bumpy", bumpy, p[clear], (radius < 0.95 * surface)[clear]))
  return cases


@pytest.mark.parametrize("name, mesh, points, inside", _shape_cases(),
                         ids=[c[0] for c in _shape_cases()])
def test_winding_numbers_are_one_inside_and_zero_outside(x64, name, mesh, points, inside):
  assert inside.any() and (~inside).any(), name
  numbers = np.asarray(pen.winding_numbers(points, _triangles(mesh), chunk_size=128))
  np.testing.assert_allclose(numbers, inside.astype(float), atol=1e-4, err_msg=name)


def test_winding_numbers_match_brute_force_and_chunking_changes_nothing(x64):
  mesh = _bumpy_sphere()
  points = np.random.default_rng(1).uniform(-1.5, 1.5, size=(300, 3))
  triangles = _triangles(mesh)
  whole = pen.winding_numbers(points, triangles, chunk_size=None)
  np.testing.assert_allclose(whole, _brute_winding(points, triangles), atol=1e-10)
  for chunk in (7, 1000):
    np.testing.assert_allclose(pen.winding_numbers(points, triangles, chunk_size=chunk), whole,
                               rtol=0, atol=1e-12)


def test_winding_numbers_are_nan_safe_on_the_surface():
  mesh = trimesh.creation.icosphere(subdivisions=2)
  triangles = jnp.asarray(_triangles(mesh), jnp.float32)
  points = jnp.asarray(mesh.vertices[:5], jnp.float32)  # exactly on corners
  value, grad = jax.jit(jax.value_and_grad(lambda p: jnp.sum(pen.winding_numbers(p, triangles))))(
      points)
  assert bool(jnp.all(jnp.isfinite(value))) and bool(jnp.all(jnp.isfinite(grad)))


# ------------------------------------------------------------------------------------------------
# The proxy


def _check_proxy(proxy, vertices, faces):
  vertex_ids = np.asarray(proxy.vertex_ids)
  assert np.all(np.diff(vertex_ids) > 0) and vertex_ids.min() >= 0
  assert vertex_ids.max() < len(vertices)
  assert set(np.unique(np.asarray(proxy.triangle_ids))) == set(vertex_ids)
  assert set(vertex_ids) <= set(np.unique(faces))
  mesh = trimesh.Trimesh(vertices[vertex_ids], proxy.faces(), process=False)
  assert mesh.is_watertight and mesh.is_winding_consistent
  for part in mesh.split(only_watertight=False):
    assert part.volume > 0
  return mesh


def test_proxy_of_a_sphere_is_a_closed_subset_of_the_right_size():
  sphere = trimesh.creation.icosphere(subdivisions=4)
  proxy = pen.build_proxy(sphere.vertices, sphere.faces, target_vertices=400)
  assert 400 <= proxy.num_vertices <= 420
  mesh = _check_proxy(proxy, np.asarray(sphere.vertices), np.asarray(sphere.faces))
  assert mesh.volume > 0.95 * sphere.volume


def test_proxy_closes_holes_fixes_orientation_and_keeps_nested_parts(x64):
  outer = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
  keep = outer.triangles_center[:, 2] < 0.85  # an open "mouth" on top
  inner = trimesh.creation.icosphere(subdivisions=2, radius=0.2)  # an "eyeball", inside
  inner.apply_translation([0.0, 0.5, 0.0])
  apart = trimesh.creation.box(extents=(0.5, 0.5, 0.5))
  apart.apply_translation([3.0, 0.0, 0.0])
  pieces = [outer.faces[keep], inner.faces + 642, apart.faces[:, ::-1] + 642 + 162]
  vertices = np.concatenate([outer.vertices, inner.vertices, apart.vertices])
  faces = np.concatenate(pieces)
  proxy = pen.build_proxy(vertices, faces, target_vertices=300)
  mesh = _check_proxy(proxy, vertices, faces)
  assert len(mesh.split(only_watertight=False)) == 3
  queries = np.array([[0, 0, 0], [0, 0, 0.6], [0, 0.5, 0], [3, 0, 0], [1.5, 0, 0], [0, 0, 1.2]],
                     float)
  numbers = np.asarray(pen.winding_numbers(queries, pen.proxy_triangles(proxy, vertices)))
  np.testing.assert_allclose(numbers, [1, 1, 2, 1, 0, 0], atol=1e-6)
  inside = inside_mask(queries, vertices, proxy)
  np.testing.assert_array_equal(inside, [True, True, True, True, False, False])


def test_proxy_rejects_non_manifold_meshes():
  vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
  faces = np.array([[0, 1, 2], [0, 1, 3], [0, 1, 4]])
  with pytest.raises(InvalidInputError, match="manifold"):
    pen.build_proxy(vertices, faces)
  with pytest.raises(InvalidInputError, match="faces"):
    pen.build_proxy(vertices, np.array([[0, 1, 9]]))


def _both_directions(vertices_a, vertices_b, proxy_a, proxy_b):
  """A's vertices inside B plus B's inside A, each direction on its own (as the fit adds them)."""
  return (penetration_penalty(vertices_a, vertices_b, inside_mask(vertices_a, vertices_b, proxy_b))
          + penetration_penalty(vertices_b, vertices_a, inside_mask(vertices_b, vertices_a, proxy_a)))


@pytest.fixture(scope="module")
def default_body_and_proxy(default_body):
  return default_body, pen.build_model_proxy(default_body)


def test_proxy_of_the_default_body(default_body_and_proxy):
  model, proxy = default_body_and_proxy
  vertices = np.asarray(model.v_template, np.float64)
  faces = np.asarray(model.faces)
  _check_proxy(proxy, vertices, faces)
  assert 1000 <= proxy.num_vertices <= 1100
  # On the trunk and limbs, the body's own vertices pushed 1 cm inwards along their normals are
  # inside the proxy, and 1 cm outwards outside. Head, hands and feet have features thinner
  # than 2 cm (ears, nose, lips, fingers, toes) that a 1,000-vertex proxy cannot follow.
  mesh = trimesh.Trimesh(vertices, faces, process=False)
  inside = np.asarray(inside_mask(vertices - 0.01 * mesh.vertex_normals, vertices, proxy))
  outside = np.asarray(inside_mask(vertices + 0.01 * mesh.vertex_normals, vertices, proxy))
  names = np.asarray(posejax_body.SKELETON_JOINT_NAMES)
  dominant = names[np.asarray(model.lbs_weights).argmax(axis=1)]
  thin = np.array([any(k in n for k in ("head", "eye", "jaw", "foot", "wrist", "index",
                                         "middle", "ring", "pinky", "thumb")) for n in dominant])
  assert inside[~thin].mean() > 0.99 and outside[~thin].mean() < 0.01
  assert inside[thin].mean() > 0.75 and outside[thin].mean() < 0.15


def test_default_bodies_penetrating_and_apart(default_body_and_proxy):
  model, proxy = default_body_and_proxy
  a = jnp.asarray(model.v_template, jnp.float32)
  width = float(jnp.max(a[:, 0]) - jnp.min(a[:, 0]))
  value_and_grad = jax.jit(jax.value_and_grad(_both_directions, argnums=(0, 1)))
  values = []
  for shift in (0.25, width + 0.05):
    b = a + jnp.array([[shift, 0.0, 0.0]], jnp.float32)
    value, grads = value_and_grad(a, b, proxy, proxy)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
    values.append(float(value))
  assert values[0] > 0 and values[1] == 0.0


# ------------------------------------------------------------------------------------------------
# The penalty


@pytest.fixture(scope="module")
def ball():
  mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
  proxy = pen.build_proxy(mesh.vertices, mesh.faces, target_vertices=200)
  return np.asarray(mesh.vertices), proxy


def _brute_penalty(a, b, proxy_b):
  triangles = b[np.asarray(proxy_b.triangle_ids)]
  inside = _brute_winding(a, triangles) >= 0.99
  squared = ((a[inside][:, None, :] - b[None, :, :]) ** 2).sum(-1).min(1)
  return inside, np.sum((100.0 * squared) ** 2)


def test_penalty_matches_brute_force_positive_when_penetrating_zero_when_apart(x64, ball):
  vertices, proxy = ball
  for distance, penetrating in ((0.45, True), (0.7, False)):
    a, b = vertices, vertices + np.array([distance, 0.02, 0.0])
    expected_inside, expected = _brute_penalty(a, b, proxy)
    inside = inside_mask(a, b, proxy)
    np.testing.assert_array_equal(inside, expected_inside)
    value = penetration_penalty(a, b, inside)
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    assert (float(value) > 0) == penetrating
    if not penetrating:
      assert float(value) == 0.0 and not bool(jnp.any(inside))


def test_penalty_gradient_is_that_of_the_nearest_pair(x64, ball):
  vertices, proxy = ball
  a, b = vertices, vertices + np.array([0.45, 0.02, 0.0])
  inside = inside_mask(a, b, proxy)
  ga, gb = jax.jit(jax.grad(pen.penetration_penalty, argnums=(0, 1)))(a, b, inside)
  squared = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
  nearest = squared.argmin(1)
  expected_a = np.zeros_like(a)
  expected_b = np.zeros_like(b)
  for i in np.flatnonzero(np.asarray(inside)):
    d2 = squared[i, nearest[i]]
    g = 2 * 100.0**2 * d2 * 2 * (a[i] - b[nearest[i]])
    expected_a[i] += g
    expected_b[nearest[i]] -= g
  np.testing.assert_allclose(ga, expected_a, rtol=1e-9, atol=1e-12)
  np.testing.assert_allclose(gb, expected_b, rtol=1e-9, atol=1e-12)


def test_remembered_nearest_vertices_are_exact_when_fresh_and_bound_the_penalty_when_stale(
    x64, ball):
  vertices, proxy = ball
  a, b = vertices, vertices + np.array([0.45, 0.02, 0.0])
  inside = inside_mask(a, b, proxy)
  nearest = pen.nearest_other_vertices(a, b, inside)
  brute = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1).argmin(1)
  np.testing.assert_array_equal(np.asarray(nearest)[np.asarray(inside)],
                                brute[np.asarray(inside)])
  assert float(penetration_penalty(a, b, inside, nearest=nearest)) == pytest.approx(
      float(penetration_penalty(a, b, inside)), rel=1e-12)
  moved = a + np.random.default_rng(0).normal(scale=0.01, size=a.shape)
  stale = float(penetration_penalty(moved, b, inside, nearest=nearest))
  fresh = float(penetration_penalty(moved, b, inside))
  assert stale > fresh > 0


def test_each_direction_counts_on_its_own(ball):
  vertices, proxy = ball
  small = trimesh.creation.icosphere(subdivisions=2, radius=0.1)
  small_proxy = pen.build_proxy(small.vertices, small.faces, target_vertices=60)
  a = jnp.asarray(small.vertices, jnp.float32)  # entirely inside the ball
  b = jnp.asarray(vertices, jnp.float32)
  a_in_b = penetration_penalty(a, b, inside_mask(a, b, proxy))
  b_in_a = penetration_penalty(b, a, inside_mask(b, a, small_proxy))
  # The reference would give 0 here (B does not penetrate A); posejax counts A inside B.
  assert float(a_in_b) > 0 and float(b_in_a) == 0.0


def test_penalty_is_nan_safe(ball):
  vertices, proxy = ball
  a = jnp.asarray(vertices, jnp.float32)
  for b in (a, a + jnp.array([[0.4, 0.0, 0.0]])):  # coincident bodies, then penetrating ones
    a_broken = a.at[7].set(jnp.nan)
    b_broken = b.at[3].set(jnp.inf)
    value, grads = jax.jit(jax.value_and_grad(_both_directions, argnums=(0, 1)))(
        a_broken, b_broken, proxy, proxy)
    assert bool(jnp.isfinite(value))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


def test_chunking_changes_nothing_and_vmaps(ball):
  vertices, proxy = ball
  a = jnp.asarray(vertices, jnp.float32)
  shifts = jnp.array([[0.4, 0.0, 0.0], [0.5, 0.1, 0.0], [0.9, 0.0, 0.0]], jnp.float32)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def scene(a, b):
    inside = inside_mask(a, b, proxy, chunk_size=512)
    return inside, penetration_penalty(a, b, inside, chunk_size=512)

  masks, values = jax.vmap(scene)(jnp.broadcast_to(a, (3,) + a.shape), a[None] + shifts[:, None])
  for k in range(3):
    b = a + shifts[k][None]
    small_mask = inside_mask(a, b, proxy, chunk_size=5)
    np.testing.assert_array_equal(small_mask, masks[k])
    np.testing.assert_allclose(penetration_penalty(a, b, small_mask, chunk_size=3), values[k],
                               rtol=1e-6)
  assert float(values[0]) > 0 and float(values[2]) == 0.0


def test_errors():
  with pytest.raises(InvalidInputError, match="inside"):
    penetration_penalty(jnp.zeros((4, 3)), jnp.zeros((4, 3)), jnp.zeros(3, bool))
  with pytest.raises(InvalidInputError, match="triangles"):
    pen.winding_numbers(jnp.zeros((4, 3)), jnp.zeros((4, 3)))


def test_reindexed_proxy_follows_a_vertex_subset(ball):
  vertices, proxy = ball
  rng = np.random.default_rng(5)
  extra = rng.choice(len(vertices), 50, replace=False)
  subset = rng.permutation(np.union1d(np.asarray(proxy.vertex_ids), extra))
  sub = proxy.reindexed(subset)
  np.testing.assert_array_equal(vertices[subset][np.asarray(sub.triangle_ids)],
                                vertices[np.asarray(proxy.triangle_ids)])
  np.testing.assert_array_equal(sub.faces(), proxy.faces())
  with pytest.raises(InvalidInputError, match="subset_ids"):
    proxy.reindexed(subset[subset != int(proxy.vertex_ids[0])])


def _small_mesh():
  sphere = trimesh.creation.icosphere(subdivisions=2)
  return np.asarray(sphere.vertices), np.asarray(sphere.faces)


def test_a_stored_proxy_is_read_back_instead_of_rebuilt(tmp_path, monkeypatch):
  vertices, faces = _small_mesh()
  built = proxy_mesh.stored_simplified_faces(vertices, faces, 60, str(tmp_path))
  files = list(tmp_path.glob("proxy-*.npz"))
  assert len(files) == 1
  monkeypatch.setattr(proxy_mesh, "simplified_faces", lambda *a: pytest.fail("rebuilt"))
  np.testing.assert_array_equal(
      proxy_mesh.stored_simplified_faces(vertices, faces, 60, str(tmp_path)), built)
  # Another target or another mesh is another file.
  monkeypatch.undo()
  proxy_mesh.stored_simplified_faces(vertices, faces, 80, str(tmp_path))
  proxy_mesh.stored_simplified_faces(vertices * 1.01, faces, 60, str(tmp_path))
  assert len(list(tmp_path.glob("proxy-*.npz"))) == 3


def _damaged_versions(path, vertices):
  """Truncated bytes, a valid file of another mesh, and faces out of range, each written over
  ``path``."""
  good = path.read_bytes()
  yield "truncated", good[: len(good) // 2]
  other = io.BytesIO()
  np.savez(other, faces=np.load(io.BytesIO(good))["faces"], key=np.frombuffer(b"0" * 64, np.uint8))
  yield "another mesh", other.getvalue()
  stored = np.load(io.BytesIO(good))
  wrong = io.BytesIO()
  np.savez(wrong, faces=stored["faces"] + len(vertices), key=stored["key"])
  yield "out of range", wrong.getvalue()
  unclosed = io.BytesIO()
  np.savez(unclosed, faces=stored["faces"][1:], key=stored["key"])
  yield "not closed", unclosed.getvalue()


def test_a_damaged_stored_proxy_is_rebuilt_with_a_warning(tmp_path, caplog):
  vertices, faces = _small_mesh()
  built = proxy_mesh.stored_simplified_faces(vertices, faces, 60, str(tmp_path))
  (path,) = tmp_path.glob("proxy-*.npz")
  for name, data in list(_damaged_versions(path, vertices)):
    path.write_bytes(data)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="posejax.losses.proxy_mesh"):
      again = proxy_mesh.stored_simplified_faces(vertices, faces, 60, str(tmp_path))
    np.testing.assert_array_equal(again, built, err_msg=name)
    assert "rebuilding the interpenetration proxy" in caplog.text, name
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="posejax.losses.proxy_mesh"):
      proxy_mesh.stored_simplified_faces(vertices, faces, 60, str(tmp_path))
    assert caplog.text == "", f"{name}: the rebuilt file was not stored"


def test_an_unwritable_or_disabled_store_only_costs_time(tmp_path, monkeypatch):
  vertices, faces = _small_mesh()
  expected = proxy_mesh.simplified_faces(vertices, faces, 60)
  blocked = tmp_path / "file"
  blocked.write_text("not a folder")
  np.testing.assert_array_equal(
      proxy_mesh.stored_simplified_faces(vertices, faces, 60, str(blocked / "proxy")), expected)
  monkeypatch.setenv("POSEJAX_CACHE", "off")
  np.testing.assert_array_equal(proxy_mesh.stored_simplified_faces(vertices, faces, 60), expected)
  monkeypatch.setenv("POSEJAX_CACHE", str(tmp_path / "root"))
  proxy_mesh.stored_simplified_faces(vertices, faces, 60)
  assert len(list((tmp_path / "root" / "proxy").glob("proxy-*.npz"))) == 1


def test_the_default_body_proxy_ships_and_equals_a_fresh_build(tmp_path, monkeypatch):
  # Stale after a change to the body or the construction: rerun experiments.make_synthetic_assets.
  monkeypatch.setenv("POSEJAX_CACHE", "off")
  model = posejax_body.default_model()
  vertices = np.asarray(model.v_template, np.float64)
  faces = np.asarray(model.faces, np.int64)
  target = pen.DEFAULT_PROXY_VERTICES
  key = proxy_mesh.proxy_key(vertices, faces, target)
  assert os.path.isfile(os.path.join(proxy_mesh.SHIPPED_DIRECTORY, proxy_mesh.proxy_file_name(key)))
  fresh = proxy_mesh.simplified_faces(vertices, faces, target)
  calls = []
  monkeypatch.setattr(proxy_mesh, "simplified_faces", lambda *a: calls.append(a))
  np.testing.assert_array_equal(proxy_mesh.stored_simplified_faces(vertices, faces, target), fresh)
  assert not calls  # read, not built, with no cache folder at all
