"""Tests of posejax.body.regions: derived regions, subsampling, mirror maps, the CI3D file loader."""

from __future__ import annotations

import json
import types

import jax.numpy as jnp
import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from posejax.body import regions
from posejax.body import vocabulary
from posejax.body.model import SMPLX_VERTEX_JOINT_IDS
from posejax.body.model import VERTEX_JOINT_NAMES
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError

NAMES = vocabulary.RESOLVED_REGIONS
FRONT_REGIONS = ("chest", "stomach", "waist (front)", "left shoulder (front)", "right shoulder (front)")
BACK_REGIONS = ("back", "waist (back)", "butt", "left shoulder (back)", "right shoulder (back)")

# A toy T-pose skeleton in SMPL-X joint order: y up, facing +z, the body's left at +x (metres).
_CENTRAL_JOINTS = {
    0: (0.0, 0.0, 0.0), 3: (0.0, 0.12, 0.0), 6: (0.0, 0.25, 0.0), 9: (0.0, 0.32, 0.0),
    12: (0.0, 0.5, 0.0), 15: (0.0, 0.62, 0.0), 22: (0.0, 0.57, 0.05),
}
_LEFT_JOINTS = {  # joint -> position on the left; the right-side partner is joint + 1 at -x
    1: (0.09, -0.08, 0.0), 4: (0.1, -0.5, 0.0), 7: (0.1, -0.9, 0.0), 10: (0.1, -0.95, 0.12),
    13: (0.07, 0.43, 0.0), 16: (0.18, 0.45, 0.0), 18: (0.45, 0.45, 0.0), 20: (0.7, 0.45, 0.0),
}


def _toy_joints() -> np.ndarray:
  joints = np.zeros((55, 3))
  for j, p in _CENTRAL_JOINTS.items():
    joints[j] = p
  for j, p in _LEFT_JOINTS.items():
    joints[j] = p
    joints[j + 1] = (-p[0], p[1], p[2])
  joints[23] = (0.03, 0.64, 0.08)
  joints[24] = (-0.03, 0.64, 0.08)
  for k in range(15):  # five fingers of three joints each, fanned out past the wrist
    left = (0.75 + 0.025 * (k % 3), 0.45, -0.04 + 0.02 * (k // 3))
    joints[25 + k] = left
    joints[40 + k] = (-left[0], left[1], left[2])
  return joints


def _toy_body(with_regressor: bool = True):
  """A mirror-symmetric stick figure of closed ellipsoids, each skinned fully to one joint."""
  joints = _toy_joints()
  pieces = []  # (centre, radii, joint or None for the torso, subdivisions)

  def limb(joint, child, radius):
    centre = 0.5 * (joints[joint] + joints[child])
    half = 0.5 * np.abs(joints[child] - joints[joint]) + radius
    pieces.append((centre, half, joint, 1))

  for side in (0, 1):
    hip, knee, ankle, foot, collar, shoulder, elbow, wrist = (
        j + side for j in (1, 4, 7, 10, 13, 16, 18, 20)
    )
    limb(hip, knee, 0.06)
    limb(knee, ankle, 0.05)
    limb(ankle, foot, 0.04)
    pieces.append((joints[foot] + np.array([0.0, 0.0, 0.04]), np.full(3, 0.03), foot, 1))
    limb(collar, shoulder, 0.05)
    limb(shoulder, elbow, 0.05)
    limb(elbow, wrist, 0.04)
    pieces.append((joints[wrist] + np.array([0.03 * (1 - 2 * side), 0, 0]), np.full(3, 0.03), wrist, 1))
    for k in range(15):
      pieces.append((joints[25 + 15 * side + k], np.full(3, 0.008), 25 + 15 * side + k, 1))
  limb(12, 15, 0.04)
  pieces.append((joints[15] + np.array([0, 0.04, 0]), np.array([0.08, 0.1, 0.09]), 15, 2))
  pieces.append((joints[22], np.full(3, 0.02), 22, 1))
  pieces.append((joints[23], np.full(3, 0.01), 23, 1))
  pieces.append((joints[24], np.full(3, 0.01), 24, 1))
  pieces.append((np.array([0.0, 0.22, 0.0]), np.array([0.16, 0.32, 0.11]), None, 3))

  vertices, faces, owner = [], [], []
  offset = 0
  torso_heights = joints[[0, 3, 6, 9], 1]
  for centre, radii, joint, subdivisions in pieces:
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = np.asarray(sphere.vertices) * radii + centre
    vertices.append(v)
    faces.append(np.asarray(sphere.faces) + offset)
    if joint is None:  # torso vertices follow the spine joint nearest in height
      nearest = np.argmin(np.abs(v[:, 1:2] - torso_heights[None, :]), axis=1)
      owner.append(np.array([0, 3, 6, 9])[nearest])
    else:
      owner.append(np.full(len(v), joint))
    offset += len(v)
  vertices = np.concatenate(vertices)
  faces = np.concatenate(faces)
  owner = np.concatenate(owner)
  weights = np.zeros((len(vertices), 55))
  weights[np.arange(len(vertices)), owner] = 1.0
  # Any (55, V) matrix with J_regressor @ v_template == joints will do for the region rules.
  regressor = joints @ np.linalg.pinv(vertices) if with_regressor else None
  return types.SimpleNamespace(
      v_template=vertices, faces=faces, lbs_weights=weights, J_regressor=regressor,
      synthetic=False,
  ), owner


@pytest.fixture(scope="module")
def toy():
  model, owner = _toy_body()
  return model, owner, regions.derive_regions(model, samples_per_region=16)


def _mirror_agreement(region_map, rest_vertices) -> dict[str, float]:
  """Per region: share of its vertices whose reflection's nearest vertex is in the mirror region."""
  tree = cKDTree(rest_vertices)
  shares = {}
  for r, name in enumerate(region_map.names):
    ids = np.flatnonzero(region_map.masks[r])
    _, matches = tree.query(rest_vertices[ids] * np.array([-1.0, 1.0, 1.0]))
    shares[name] = float(np.mean(region_map.masks[vocabulary.MIRROR_INDEX[r]][matches]))
  return shares


def _check_region_map_invariants(region_map, rest_vertices):
  masks = np.asarray(region_map.masks)
  assert region_map.names == NAMES
  assert masks.shape == (23, rest_vertices.shape[0])
  empty = [n for n, m in zip(NAMES, masks) if not m.any()]
  assert not empty, f"empty regions: {empty}"
  assert masks.any(axis=0).all(), f"{np.sum(~masks.any(axis=0))} vertices in no region"
  r = NAMES.index
  np.testing.assert_array_equal(masks[r("waist")], masks[r("waist (front)")] | masks[r("waist (back)")])
  for side in vocabulary.SIDES:
    whole = masks[r(f"{side} shoulder")]
    front, back = masks[r(f"{side} shoulder (front)")], masks[r(f"{side} shoulder (back)")]
    np.testing.assert_array_equal(whole, front | back)
    assert not (front & back).any()
    assert not (back & ~masks[r("back")]).any(), "back must hold the back of the shoulders"
  assert (masks[r("waist (front)")] & masks[r("stomach")]).any(), "waist and stomach overlap"
  for a, b in [("butt", "back"), ("chest", "stomach"), ("head", "neck")] + [
      (f, b) for f in FRONT_REGIONS for b in BACK_REGIONS]:
    assert not (masks[r(a)] & masks[r(b)]).any(), f"{a} and {b} overlap"
  # Left and right never share a vertex; hands, feet, head are disjoint from everything lateral.
  for part in vocabulary.LATERAL_PARTS:
    assert not (masks[r(f"left {part}")] & masks[r(f"right {part}")]).any()
  z = rest_vertices[:, 2]
  front_z = np.mean([z[masks[r(n)]].mean() for n in FRONT_REGIONS])
  back_z = np.mean([z[masks[r(n)]].mean() for n in BACK_REGIONS])
  assert front_z > back_z + 0.02, (front_z, back_z)
  for name in FRONT_REGIONS:
    for other in BACK_REGIONS:
      assert z[masks[r(name)]].mean() > z[masks[r(other)]].mean(), (name, other)


def test_toy_regions_cover_every_vertex_and_respect_the_vocabulary(toy):
  model, _, region_map = toy
  _check_region_map_invariants(region_map, model.v_template)


def test_toy_regions_follow_the_dominant_joint(toy):
  model, owner, region_map = toy
  masks = np.asarray(region_map.masks)
  r = NAMES.index
  np.testing.assert_array_equal(masks[r("left hand")], np.isin(owner, [20] + list(range(25, 40))))
  np.testing.assert_array_equal(masks[r("right foot")], np.isin(owner, [8, 11]))
  np.testing.assert_array_equal(masks[r("left leg")], np.isin(owner, [1, 4]))
  np.testing.assert_array_equal(masks[r("head")], np.isin(owner, [15, 22, 23, 24]))
  np.testing.assert_array_equal(masks[r("neck")], owner == 12)
  # The shoulder cap moves from arm to shoulder: arm + shoulder = upper arm + forearm + collar.
  np.testing.assert_array_equal(
      masks[r("left arm")] | masks[r("left shoulder")], np.isin(owner, [13, 16, 18])
  )
  assert not (masks[r("left arm")] & masks[r("left shoulder")]).any()
  cap = masks[r("left shoulder")] & (owner == 16)
  assert 0 < cap.sum() < (owner == 16).sum()
  x = model.v_template[:, 0]
  assert x[cap].max() < x[(owner == 16) & ~cap].min(), "the cap is the end nearest the body"


def test_toy_torso_split_by_height_and_normal(toy):
  model, owner, region_map = toy
  masks = np.asarray(region_map.masks)
  v = model.v_template
  torso = np.isin(owner, [0, 3, 6, 9])
  h = v[:, 1] / 0.5  # pelvis at y = 0, neck at y = 0.5
  frontmost = np.flatnonzero(torso)[np.argmax(v[torso, 2] - 10 * np.abs(h[torso] - 0.8))]
  lowest_back = np.flatnonzero(torso & (v[:, 2] < -0.05))[np.argmin(v[torso & (v[:, 2] < -0.05), 1])]
  lower_back = np.flatnonzero(torso & (v[:, 2] < -0.09) & (h > 0.05) & (h < 0.25))
  r = NAMES.index
  assert masks[r("chest"), frontmost] and not masks[r("back"), frontmost]
  assert masks[r("butt"), lowest_back] and not masks[r("back"), lowest_back]
  assert lower_back.size and masks[r("waist (back)"), lower_back].all()
  assert masks[r("back"), lower_back].all()
  belly = np.flatnonzero(torso & (v[:, 2] > 0.09) & (h > 0.02) & (h < 0.18))
  assert belly.size and (masks[r("stomach"), belly] & masks[r("waist (front)"), belly]).all()


def test_sided_names_a_lateral_region_and_refuses_anything_else():
  assert vocabulary.sided("shoulder (back)", "right") == "right shoulder (back)"
  assert vocabulary.split_side(vocabulary.sided("hand", "left")) == ("left", "hand")
  with pytest.raises(InvalidInputError, match="not a lateral part"):
    vocabulary.sided("head", "left")
  with pytest.raises(InvalidInputError, match="side must be"):
    vocabulary.sided("hand", "up")


def test_toy_regions_mirror_each_other(toy):
  model, _, region_map = toy
  shares = _mirror_agreement(region_map, model.v_template)
  assert min(shares.values()) == 1.0, shares
  reflected = np.asarray(model.v_template) * np.array([-1.0, 1.0, 1.0])
  gap, mirror = cKDTree(model.v_template).query(reflected)
  assert gap.max() < 1e-9  # the toy body is exactly symmetric
  np.testing.assert_array_equal(mirror[mirror], np.arange(len(mirror)))
  masks = np.asarray(region_map.masks)
  np.testing.assert_array_equal(masks[:, mirror], masks[list(vocabulary.MIRROR_INDEX)])


def test_samples_lie_in_their_region_and_spread_out(toy):
  model, _, region_map = toy
  ids, valid = np.asarray(region_map.sample_ids), np.asarray(region_map.sample_valid)
  assert ids.shape == valid.shape == (23, 16) and ids.dtype == np.int32
  masks = np.asarray(region_map.masks)
  for r in range(23):
    assert masks[r][ids[r]].all(), NAMES[r]  # padding repeats a valid id too
    region_ids = np.flatnonzero(masks[r])
    assert valid[r].sum() == min(16, region_ids.size)
    assert len(set(ids[r][valid[r]])) == valid[r].sum()
  # Farthest-point samples cover the region far better than the first K vertices do.
  back = np.flatnonzero(masks[NAMES.index("back")])
  points = model.v_template[back]
  chosen = regions.farthest_point_sample(points, 16)
  coverage = cKDTree(points[chosen]).query(points)[0].max()
  naive = cKDTree(points[:16]).query(points)[0].max()
  assert coverage < 0.5 * naive, (coverage, naive)
  spread = cKDTree(points[chosen]).query(points[chosen], k=2)[0][:, 1].min()
  assert spread > 0.5 * coverage


def test_farthest_point_sample_is_deterministic_and_exact_on_a_line():
  points = np.stack([np.linspace(0.0, 1.0, 101), np.zeros(101), np.zeros(101)], axis=1)
  first = regions.farthest_point_sample(points, 3)
  np.testing.assert_array_equal(first, regions.farthest_point_sample(points.copy(), 3))
  assert sorted(first.tolist()) == [0, 50, 100]
  np.testing.assert_array_equal(regions.farthest_point_sample(points[:5], 9), np.arange(5))


def test_padding_when_a_region_is_smaller_than_k(toy):
  model, _, _ = toy
  region_map = regions.derive_regions(model, samples_per_region=100)
  r = NAMES.index("neck")
  size = int(region_map.masks[r].sum())
  assert size < 100
  assert region_map.sample_valid[r].sum() == size
  assert (region_map.sample_ids[r, size:] == region_map.sample_ids[r, 0]).all()


def test_sample_points_gathers_batched_vertices(toy):
  model, _, region_map = toy
  batch = np.stack([model.v_template, model.v_template + 1.0]).astype(np.float32)
  gathered = regions.sample_points(region_map, jnp.asarray(batch))
  assert gathered.shape == (2, 23, 16, 3)
  np.testing.assert_allclose(np.asarray(gathered[1, 4]), batch[1][region_map.sample_ids[4]])


def test_region_map_lookups(toy):
  _, _, region_map = toy
  assert region_map.index("waist (front)") == NAMES.index("waist (front)")
  np.testing.assert_array_equal(
      region_map.vertex_ids("neck"), np.flatnonzero(region_map.masks[NAMES.index("neck")])
  )
  with pytest.raises(InvalidInputError, match="unknown region"):
    region_map.index("elbow")
  assert region_map.num_regions == 23 and region_map.samples_per_region == 16


def test_bad_models_are_rejected(toy):
  model, _, _ = toy
  short = types.SimpleNamespace(**{**vars(model), "lbs_weights": model.lbs_weights[:, :24]})
  with pytest.raises(InvalidInputError, match="lbs_weights"):
    regions.derive_regions(short)
  with pytest.raises(InvalidInputError, match="BodyModel"):
    regions.derive_regions(types.SimpleNamespace(v_template=model.v_template))
  with pytest.raises(InvalidInputError, match="stomach_from"):
    regions.RegionRules(chest_from=0.1, waist_front_below=0.2)


def test_vertex_normals_point_outward_for_either_winding():
  sphere = trimesh.creation.icosphere(subdivisions=2)
  v, f = np.asarray(sphere.vertices) * np.array([1.0, 2.0, 0.5]), np.asarray(sphere.faces)
  for faces in (f, f[:, ::-1]):
    normals = regions.vertex_normals(v, faces)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, rtol=1e-12)
    assert np.all(np.sum(normals * v, axis=1) > 0.2), "outward"
  # On a sphere the normal is the radial direction, up to the facets' discretisation.
  unit = np.asarray(sphere.vertices)
  assert np.min(np.sum(regions.vertex_normals(unit, f) * unit, axis=1)) > 0.995


# --- the CI3D contact_regions.json loader -------------------------------------------------------


def _write_region_file(path, num_faces, **extra):
  fine = [[f for f in range(num_faces) if f % 75 == rid] for rid in range(75)]
  path.write_text(json.dumps({"rid_to_smplx_fids": fine, "rid_to_color": [[0, 0, 0]] * 75, **extra}))
  return fine


def test_load_contact_regions_unites_fine_regions(tmp_path, toy):
  model, _, _ = toy
  path = tmp_path / "contact_regions.json"
  _write_region_file(path, len(model.faces))
  region_map = regions.load_contact_regions(path, model, samples_per_region=8)
  assert region_map.source == str(path)
  for r, name in enumerate(NAMES):
    expected = np.zeros(len(model.v_template), bool)
    for face_id, face in enumerate(model.faces):
      if face_id % 75 in regions.COARSE_TO_CI3D_REGIONS[name]:
        expected[face] = True
    np.testing.assert_array_equal(region_map.masks[r], expected, err_msg=name)
  assert region_map.sample_ids.shape == (23, 8)


def test_coarse_to_ci3d_table_is_consistent():
  table = regions.COARSE_TO_CI3D_REGIONS
  assert set(table) == set(NAMES)
  covered = set().union(*map(set, table.values()))
  assert covered == set(range(75))
  assert set(table["waist"]) == set(table["waist (front)"]) | set(table["waist (back)"])
  for side in vocabulary.SIDES:
    assert set(table[f"{side} shoulder"]) == set(table[f"{side} shoulder (front)"]) | set(
        table[f"{side} shoulder (back)"])
    assert set(table[f"{side} shoulder (back)"]) <= set(table["back"])
  assert set(table["waist (back)"]) <= set(table["back"])
  assert set(table["stomach"]) & set(table["waist"])


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        ("{not json", "JSON"),
        (json.dumps({"rid_to_ghum_fids": []}), "rid_to_smplx_fids"),
        (json.dumps({"rid_to_smplx_fids": [[0]] * 74}), "75"),
        (json.dumps({"rid_to_smplx_fids": [[0]] * 74 + [["a"]]}), "region 74"),
        (json.dumps({"rid_to_smplx_fids": [[0]] * 74 + [[10 ** 7]]}), "outside"),
        (json.dumps({"rid_to_smplx_fids": [[]] * 75}), "empty"),
    ],
)
def test_bad_region_files_raise_file_format_error(tmp_path, toy, content, message):
  model, _, _ = toy
  path = tmp_path / "contact_regions.json"
  if content is not None:
    path.write_text(content)
  with pytest.raises(FileFormatError, match=message) as error:
    regions.load_contact_regions(path, model)
  assert error.value.path == str(path)


def test_region_file_refuses_a_synthetic_body(tmp_path, toy):
  model, _, _ = toy
  path = tmp_path / "contact_regions.json"
  _write_region_file(path, len(model.faces))
  synthetic = types.SimpleNamespace(**{**vars(model), "synthetic": True})
  with pytest.raises(InvalidInputError, match="derive_regions"):
    regions.load_contact_regions(path, synthetic)


# --- the default body ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_body_regions(default_body):
  return default_body, regions.derive_regions(default_body)


def test_default_body_regions(default_body_regions):
  model, region_map = default_body_regions
  _check_region_map_invariants(region_map, np.asarray(model.v_template, dtype=np.float64))


def test_default_body_regions_mirror_each_other(default_body_regions):
  model, region_map = default_body_regions
  shares = _mirror_agreement(region_map, np.asarray(model.v_template, dtype=np.float64))
  assert min(shares.values()) > 0.99, {k: v for k, v in shares.items() if v <= 0.99}


def test_default_body_landmarks_fall_in_their_regions(default_body_regions):
  model, region_map = default_body_regions
  ids = getattr(model, "vertex_joint_ids", SMPLX_VERTEX_JOINT_IDS)
  landmark = dict(zip(VERTEX_JOINT_NAMES, ids))
  masks = np.asarray(region_map.masks)
  expected = {"head": ("nose", "left_ear", "right_ear", "left_eye", "right_eye")}
  for side in vocabulary.SIDES:
    expected[f"{side} hand"] = tuple(
        f"{side}_{finger}" for finger in ("thumb", "index", "middle", "ring", "pinky"))
    expected[f"{side} foot"] = tuple(f"{side}_{p}" for p in ("big_toe", "small_toe", "heel"))
  for region, names in expected.items():
    for name in names:
      assert masks[NAMES.index(region), landmark[name]], f"{name} not in {region}"


def test_default_body_refuses_the_ci3d_region_file(tmp_path, default_body_regions):
  model, _ = default_body_regions
  path = tmp_path / "contact_regions.json"
  _write_region_file(path, int(np.shape(model.faces)[0]))
  with pytest.raises(InvalidInputError, match="synthetic"):
    regions.load_contact_regions(path, model)
