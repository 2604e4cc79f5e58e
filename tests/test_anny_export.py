"""The Anny exporter's structure, on a small made-up rig with Anny's bones (anny not needed).

The rig has Anny's 104 bone names and tree in Anny's frame (z up, facing -y, an A-pose with the
forearms bent forward); every bone owns a small closed cluster of vertices (the head a sphere),
and a shape's size and width follow its age and weight phenotypes, so the shape space has two
directions and the phenotype map is exact.
"""

import numpy as np
import pytest
import trimesh

import posejax.body as pb
from posejax.body import anny_export as ax
from posejax.body.phenotypes import anchor_grid
from posejax.errors import InvalidInputError

J = {name: i for i, name in enumerate(pb.SKELETON_JOINT_NAMES)}


def _bones():
  """(name, parent name, head) in Anny's frame, parents first (one side's offsets mirrored)."""
  out = [("root", None, (0.0, 0.0, 0.0))]
  forearm = np.array([0.11, -0.12, -0.11])
  forearm /= np.linalg.norm(forearm)
  across = np.cross(forearm, [0.0, 0.0, 1.0])
  across /= np.linalg.norm(across)
  for suffix, sign in ((".L", 1.0), (".R", -1.0)):
    m = lambda p: (sign * p[0], p[1], p[2])  # noqa: E731
    legs = [("pelvis", "root", (0.0, 0.0, 0.0)), ("upperleg01", "pelvis", (0.1, 0.0, 0.0)),
            ("upperleg02", "upperleg01", (0.1, 0.0, -0.1)),
            ("lowerleg01", "upperleg02", (0.12, 0.0, -0.45)),
            ("lowerleg02", "lowerleg01", (0.12, 0.0, -0.6)),
            ("foot", "lowerleg02", (0.14, 0.0, -0.85))]
    out += [(n + suffix, (p + suffix if p != "root" else "root"), m(h)) for n, p, h in legs]
    for toe in range(1, 6):
      parent = "foot" + suffix
      for k in range(1, 3 if toe == 1 else 4):
        name = f"toe{toe}-{k}{suffix}"
        out.append((name, parent, m((0.1 + 0.015 * toe, -0.1 - 0.015 * k, -0.9))))
        parent = name
  out += [(f"spine0{k}", "root" if k == 5 else f"spine0{k + 1}", (0.0, 0.0, 0.08 * (5 - k)))
          for k in range(5, 0, -1)]
  for suffix, sign in ((".L", 1.0), (".R", -1.0)):
    m = lambda p: (sign * p[0], p[1], p[2])  # noqa: E731
    wrist = np.array([0.33, 0.0, 0.28]) + 0.16 * forearm
    arm = [("clavicle", "spine01", (0.02, 0.0, 0.45)), ("shoulder01", "clavicle", (0.1, 0.0, 0.47)),
           ("upperarm01", "shoulder01", (0.16, 0.0, 0.45)),
           ("upperarm02", "upperarm01", (0.24, 0.0, 0.37)),
           ("lowerarm01", "upperarm02", (0.33, 0.0, 0.28)),
           ("lowerarm02", "lowerarm01", tuple(np.array([0.33, 0.0, 0.28]) + 0.08 * forearm)),
           ("wrist", "lowerarm02", tuple(wrist))]
    out += [(n + suffix, p if p == "spine01" else p + suffix, m(h)) for n, p, h in arm]
    for finger in range(1, 6):
      offset = (finger - 3) * 0.012 * across
      base = wrist + 0.04 * forearm + offset
      parent = "wrist" + suffix
      if finger > 1:
        out.append((f"metacarpal{finger - 1}{suffix}", parent, m(wrist + 0.01 * forearm + offset)))
        parent = f"metacarpal{finger - 1}{suffix}"
      for k in range(1, 4):
        name = f"finger{finger}-{k}{suffix}"
        out.append((name, parent, m(base + 0.025 * (k - 1) * forearm)))
        parent = name
  out += [("neck01", "spine01", (0.0, 0.0, 0.48)), ("neck02", "neck01", (0.0, 0.0, 0.52)),
          ("neck03", "neck02", (0.0, 0.0, 0.55)), ("head", "neck03", (0.0, 0.0, 0.6)),
          ("eye.L", "head", (0.03, -0.06, 0.7)), ("eye.R", "head", (-0.03, -0.06, 0.7))]
  return out


def _make_rig(parent_of=None):
  bones = _bones()
  labels = [b[0] for b in bones]
  parents = {n: p for n, p, _ in bones}
  parents.update(parent_of or {})
  heads = np.array([b[2] for b in bones], np.float64)
  vertices, faces, owners, blended = [], [], [], []
  for index, name in enumerate(labels):
    if name == "head":
      sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.09)
      points = np.asarray(sphere.vertices) + heads[index] + [0.0, 0.0, 0.1]
      tris = np.asarray(sphere.faces)
    else:
      octa = trimesh.creation.icosphere(subdivisions=0, radius=0.008)
      points = np.asarray(octa.vertices) + heads[index] + [0.0, 0.0, 0.004]
      tris = np.asarray(octa.faces)
    faces.append(tris + sum(len(v) for v in vertices))
    vertices.append(points)
    owners += [index] * len(points)
    parent = parents[name]
    blended += [labels.index(parent) if parent else index] + [index] * (len(points) - 1)
  vertices = np.concatenate(vertices)
  indices = np.stack([owners, blended], axis=1)
  weights = np.where(indices[:, :1] == indices[:, 1:], [1.0, 0.0], [0.5, 0.5])
  head = labels.index("head")
  on_head = np.flatnonzero(np.asarray(owners) == head)

  def one_hot(vertex):
    out = np.zeros(len(vertices))
    out[vertex] = 1.0
    return out

  def on_head_nearest(point):
    return on_head[np.argmin(np.linalg.norm(vertices[on_head] - point, axis=1))]

  centre = heads[head] + [0.0, 0.0, 0.1]
  regressors = {"nose": one_hot(on_head[np.argmin(vertices[on_head, 1])]),
                "left_eye": one_hot(on_head_nearest(centre + [0.03, -0.09, 0.01])),
                "right_eye": one_hot(on_head_nearest(centre + [-0.03, -0.09, 0.01])),
                "left_ear": one_hot(on_head[np.argmax(vertices[on_head, 0])]),
                "right_ear": one_hot(on_head[np.argmin(vertices[on_head, 0])])}
  for side, suffix in (("left", ".L"), ("right", ".R")):
    for key, bone in (("big_toe", "toe1-2"), ("small_toe", "toe5-3"), ("heel", "foot")):
      ids = np.flatnonzero(np.asarray(owners) == labels.index(bone + suffix))
      regressors[f"{side}_{key}"] = one_hot(ids[1])  # ids[0] is blended with the parent
  rig = ax.AnnyRig(bone_labels=tuple(labels),
                   bone_parents=np.array([labels.index(parents[n]) if parents[n] else -1
                                          for n in labels]),
                   faces=np.concatenate(faces), bone_indices=indices, bone_weights=weights,
                   keypoint_regressors=regressors)
  return rig, vertices, heads


def _shapes(rig, vertices, heads, phenotypes):
  """Size from age, width from weight: v(p) = diag(s w, s, s) v."""
  scale = 0.5 + 0.5 * phenotypes[:, 1]
  width = 1.0 + 0.2 * phenotypes[:, 3]
  stretch = np.stack([scale * width, scale, scale], axis=1)
  poses = np.tile(np.eye(4), (len(phenotypes), len(heads), 1, 1))
  poses[:, :, :3, 3] = heads[None] * stretch[:, None]
  return ax.AnnyShapes(phenotypes=phenotypes, rest_vertices=vertices[None] * stretch[:, None],
                       rest_bone_poses=poses)


@pytest.fixture(scope="module")
def export():
  rig, vertices, heads = _make_rig()
  rng = np.random.default_rng(0)
  sample = _shapes(rig, vertices, heads, rng.uniform(0.0, 1.0, (40, 6)))
  grid = _shapes(rig, vertices, heads, anchor_grid())
  arrays, space, posed = ax.export_arrays(rig, sample, grid, 2)
  model = pb.model_from_arrays(arrays, num_betas=2, num_expression_coeffs=0, use_pca=False)
  return rig, sample, arrays, space, posed, model


def test_joints_follow_smplx_hierarchy_and_refuse_a_wrong_one():
  rig, _, _ = _make_rig()
  groups = ax.joint_groups(rig)
  assert groups[rig.bone_labels.index("upperarm02.L")] == J["left_shoulder"]
  assert groups[rig.bone_labels.index("toe3-2.R")] == J["right_foot"]
  assert groups[rig.bone_labels.index("metacarpal2.L")] == J["left_wrist"]
  wrong, _, _ = _make_rig({"lowerarm01.L": "clavicle.L"})
  with pytest.raises(InvalidInputError, match="lowerarm01.L"):
    ax.joint_groups(wrong)


def test_weights_summed_per_joint(export):
  rig, _, arrays, _, _, model = export
  weights = arrays["weights"]
  np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
  # A vertex of the forearm twist bone blended with its parent stays in one joint (the elbow);
  # one of the upper arm's first bone blended with the collar splits between two joints.
  owners, partners = rig.bone_indices[:, 0], rig.bone_indices[:, 1]
  labels = rig.bone_labels
  twist = np.flatnonzero((owners == labels.index("lowerarm02.L")) &
                         (partners == labels.index("lowerarm01.L")))[0]
  assert weights[twist, J["left_elbow"]] == 1.0
  shoulder = np.flatnonzero((owners == labels.index("upperarm01.L")) &
                            (partners == labels.index("shoulder01.L")))[0]
  assert weights[shoulder, J["left_shoulder"]] == weights[shoulder, J["left_collar"]] == 0.5
  assert np.asarray(model.lbs_weights).shape == (len(rig.bone_indices), 55)


def test_t_pose_in_smplx_frame(export):
  _, _, _, _, posed, _ = export
  joints = posed.joints[0]
  for side, sign in (("left", 1.0), ("right", -1.0)):
    shoulder, elbow, wrist = (joints[J[f"{side}_{n}"]] for n in ("shoulder", "elbow", "wrist"))
    for a, b in ((shoulder, elbow), (elbow, wrist)):
      np.testing.assert_allclose((b - a) / np.linalg.norm(b - a), [sign, 0.0, 0.0], atol=1e-9)
    index, pinky = joints[J[f"{side}_index1"]], joints[J[f"{side}_pinky1"]]
    assert index[2] - pinky[2] > 0.01 and abs(index[1] - pinky[1]) < 1e-9
  # y up and facing +z: the head above the pelvis, the eyes in front of the head joint.
  assert joints[J["head"], 1] > joints[J["pelvis"], 1] + 0.2
  assert joints[J["left_eye_smplhf"], 2] > joints[J["head"], 2]


def test_landmarks_on_their_parts(export):
  rig, _, arrays, space, _, model = export
  weights = arrays["weights"]
  ids = dict(zip(pb.model.VERTEX_JOINT_NAMES, arrays["vertex_joint_ids"]))
  assert weights[ids["nose"]].argmax() == J["head"]
  for side in ("left", "right"):
    assert weights[ids[f"{side}_big_toe"]].argmax() == J[f"{side}_foot"]
    assert weights[ids[f"{side}_heel"]].argmax() == J[f"{side}_ankle"]
    for finger in ("thumb", "index", "middle", "ring", "pinky"):
      assert weights[ids[f"{side}_{finger}"]].argmax() == J[f"{side}_{finger}3"]
  corners = arrays["f"][arrays["lmk_faces_idx"]]
  assert np.all(weights[corners.ravel()].argmax(axis=1) == J["head"])
  np.testing.assert_allclose(arrays["lmk_bary_coords"].sum(axis=1), 1.0)
  assert model.vertex_joint_ids == tuple(int(i) for i in arrays["vertex_joint_ids"])


def _betas_of(space, vertices):
  """(N, V, 3) T-posed vertices -> (N, B) betas, by least squares on the directions."""
  flat = space.directions.reshape(-1, space.directions.shape[-1])
  centred = (vertices - space.mean_vertices).reshape(len(vertices), -1)
  return np.linalg.lstsq(flat, centred.T, rcond=None)[0].T


def test_regressed_joints_and_shape_space(export):
  _, sample, arrays, space, posed, model = export
  # Two directions span size and width (the T-pose turns the arms by a width-dependent angle,
  # which leaves a trace).
  assert np.sum(space.explained) > 1 - 1e-6
  betas = _betas_of(space, posed.vertices)
  rebuilt = space.mean_vertices + np.einsum("vcb,sb->svc", space.directions, betas)
  offset = np.asarray(__import__("json").loads(str(arrays["metadata"]))["anny_origin"])
  np.testing.assert_allclose(rebuilt - offset, posed.vertices, atol=1e-4)
  joints = np.einsum("jv,svc->sjc", arrays["J_regressor"], rebuilt)
  np.testing.assert_allclose(joints - offset, posed.joints, atol=1e-4)


def test_betas_and_phenotypes_round_trip(export):
  _, sample, _, space, posed, _ = export
  mapping = space.phenotype_map
  np.testing.assert_allclose(mapping.betas(sample.phenotypes), _betas_of(space, posed.vertices),
                             atol=0.01)
  found = mapping.phenotypes(mapping.betas(sample.phenotypes[:8]))
  # Age and weight decide the shape here; the other phenotypes change nothing.
  np.testing.assert_allclose(found[:, [1, 3]], sample.phenotypes[:8, [1, 3]], atol=0.01)
  np.testing.assert_allclose(mapping.betas(found), mapping.betas(sample.phenotypes[:8]),
                             atol=1e-4)


def test_t_pose_turns_an_arm_pointing_inwards():
  # An upper arm along -x is opposite to its T-pose direction: the shortest arc is a half-turn,
  # not no turn at all.
  rig, vertices, heads = _make_rig()
  labels = rig.bone_labels
  shoulder = labels.index("upperarm01.L")
  below = {shoulder}
  for bone, parent in enumerate(rig.bone_parents):
    if parent in below:
      below.add(bone)
  below.discard(shoulder)
  elbow = labels.index("lowerarm01.L")
  length = np.linalg.norm(heads[elbow] - heads[shoulder])
  inward = heads.copy()
  inward[sorted(below)] += heads[shoulder] - [length, 0.0, 0.0] - heads[elbow]
  poses = np.tile(np.eye(4), (len(labels), 1, 1))
  poses[:, :3, 3] = inward
  transforms = ax.t_pose_transforms(rig, poses)
  posed = np.einsum("bij,bj->bi", transforms[:, :3, :3], inward) + transforms[:, :3, 3]
  wrist = labels.index("wrist.L")
  for a, b in ((shoulder, elbow), (elbow, wrist)):
    direction = posed[b] - posed[a]
    np.testing.assert_allclose(direction / np.linalg.norm(direction), [1.0, 0.0, 0.0], atol=1e-9)
