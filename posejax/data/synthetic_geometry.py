"""Geometry of the synthetic contact benchmark: making designed contacts true, checking them,
occlusion.

* ``ContactRefiner``: a jitted Adam optimisation that turns only the joints carrying the touching
  regions (``moving_joints``), anchored to the designed pose, and moves the one movable person,
  until the named region pairs touch. Loss: each pair's minimum distance between fixed region
  samples (hinged at 2 mm), the depth of either region's samples behind the other's skin (along
  skinned vertex normals), and for two people the interpenetration penalty of
  ``posejax.losses.penetration``. It evaluates a reduced body (region samples and proxy vertices).
* ``measure_scene``: the check on the full meshes: each true pair's distance, the deepest
  interpenetration (two people: by winding number against the other's proxy; one person: behind
  the other region's surface along its normals), and region pairs that touch unannotated.
* ``visible_keypoints``: which BODY_25 keypoints a camera sees (a point-splat z-buffer).

Nothing here is used when fitting real images.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.spatial import cKDTree

from posejax.body import keypoints as body_keypoints
from posejax.body import regions as body_regions
from posejax.body import vocabulary
from posejax.body.forward import forward
from posejax.body.model import BodyModel
from posejax.body.model import BodyParams
from posejax.body.reduce import reduce_model
from posejax.errors import InvalidInputError
from posejax.losses import penetration

_FIT_FIELDS = ("betas", "global_orient", "body_pose", "transl")


@dataclasses.dataclass(frozen=True)
class RefineWeights:
  """Weights and schedule of the contact refinement (all dimensionless unless stated).

  Attributes:
    contact: per metre of a true pair's distance beyond ``contact_margin``.
    contact_margin: metres; pairs closer than this pull no further (so surfaces are not pushed
      through each other).
    penetration: multiplies the ``(100 d^2)^2`` interpenetration penalty (two people).
    surface: per metre^2 of depth of a touching region's samples behind the other region's
      surface (keeps contacts from sinking in, for one person too).
    pose_anchor: per radian^2 of body-pose change from the designed pose.
    placement_anchor: per metre^2 of translation and radian^2 of root rotation change of the
      moving person.
    learning_rate: Adam's initial step (cosine-decayed to zero).
    steps: Adam iterations (a multiple of ``block``).
    block: steps between refreshes of the interpenetration inside masks.
  """

  contact: float = 1.0
  contact_margin: float = 0.002
  penetration: float = 10.0
  surface: float = 2000.0
  pose_anchor: float = 2.0
  placement_anchor: float = 0.5
  learning_rate: float = 0.005
  steps: int = 240
  block: int = 30

  def __post_init__(self):
    if self.steps <= 0 or self.block <= 0 or self.steps % self.block:
      raise InvalidInputError(f"RefineWeights.steps ({self.steps}) must be a positive multiple of "
                              f"block ({self.block})")


@dataclasses.dataclass(frozen=True)
class SceneMeasurement:
  """What the full-mesh check found in a posed scene.

  Attributes:
    contact_distances: (C,) metres: minimum distance between the full vertex sets of each true
      pair.
    penetration_depth: metres: the deepest interpenetration found (0 when none).
    also_touching: region pairs, other than the true ones, closer than the tolerance, as
      ``(region of body 0, region of body 1)`` (or ``(region, region)`` for one person).
  """

  contact_distances: np.ndarray
  penetration_depth: float
  also_touching: tuple[tuple[str, str], ...]


def pelvis_rest_position(model: BodyModel, betas: np.ndarray) -> np.ndarray:
  """(..., 3) metres: the rest-pose pelvis joint for shape ``betas`` (..., B); ``global_orient``
  turns the body about it."""
  regressor = np.asarray(model.J_regressor[0], dtype=np.float64)
  template = regressor @ np.asarray(model.v_template, dtype=np.float64)
  directions = np.einsum("v,vkb->kb", regressor, np.asarray(model.shapedirs, dtype=np.float64))
  return template + np.einsum("kb,...b->...k", directions, np.asarray(betas, dtype=np.float64))


def move_rigidly(model: BodyModel, params: dict[str, np.ndarray], rotation: np.ndarray,
                 translation: np.ndarray) -> dict[str, np.ndarray]:
  """Parameters of the same posed bodies after the rigid motion ``x -> rotation @ x + translation``
  ((3, 3) and (3,) metres): a copy of the numpy dict ``params`` (``betas (P, B)``,
  ``global_orient (P, 3)``, ``transl (P, 3)``, ...) with new ``global_orient`` and ``transl``."""
  from scipy.spatial.transform import Rotation
  pelvis = pelvis_rest_position(model, params["betas"])
  orient = Rotation.from_matrix(rotation) * Rotation.from_rotvec(params["global_orient"])
  return {**params, "global_orient": orient.as_rotvec(),
          "transl": (pelvis + params["transl"]) @ rotation.T + translation - pelvis}


def body_params(model, params: dict[str, np.ndarray]) -> BodyParams:
  """``BodyParams`` of a numpy parameter dict with a leading person axis (other fields zero)."""
  people = int(np.shape(params["body_pose"])[0])
  return BodyParams.create(model, batch_shape=(people,), **{
      k: np.asarray(v, np.float32) for k, v in params.items()})


@functools.lru_cache(maxsize=None)
def _jitted_forward():
  return jax.jit(forward)


def posed(model, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """``(vertices (P, V, 3), joints (P, J, 3))`` metres, float64, of a numpy parameter dict with a
  leading person axis."""
  out = _jitted_forward()(model, body_params(model, params))
  return np.asarray(out.vertices, np.float64), np.asarray(out.joints, np.float64)


def _nearest_pair_distance(points_a: jax.Array, points_b: jax.Array, valid_a: jax.Array,
                           valid_b: jax.Array) -> jax.Array:
  """Minimum distance between two point sets; the gradient reaches only the closest pair."""
  squared = jnp.sum(jnp.square(points_a[:, None, :] - points_b[None, :, :]), axis=-1)
  squared = jnp.where(valid_a[:, None] & valid_b[None, :], squared, jnp.inf)
  flat = jnp.argmin(jax.lax.stop_gradient(squared))
  i, j = flat // points_b.shape[0], flat % points_b.shape[0]
  length_sq = jnp.sum(jnp.square(points_a[i] - points_b[j]))
  positive = length_sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, length_sq, 1.0)), 0.0)


_REGION_CHAINS: dict[str, tuple[str, ...]] = {
    "hand": ("collar", "shoulder", "elbow", "wrist"), "arm": ("collar", "shoulder", "elbow"),
    "shoulder": ("collar",), "shoulder (front)": ("collar",), "shoulder (back)": ("collar",),
    "foot": ("hip", "knee", "ankle"), "leg": ("hip", "knee"),
}
_CENTRAL_CHAINS: dict[str, tuple[str, ...]] = {
    "head": ("spine3", "neck", "head"), "neck": ("spine3", "neck"),
    "chest": ("spine1", "spine2", "spine3"), "stomach": ("spine1", "spine2"),
    "waist": ("spine1",), "waist (front)": ("spine1",), "waist (back)": ("spine1",),
    "back": ("spine1", "spine2", "spine3"), "butt": (),
}


def moving_joints(region: str) -> tuple[str, ...]:
  """The body joints that carry a region: the refinement moves only these for its contacts.

  Keeping every other joint still stops the interpenetration push from wandering into limbs that
  have nothing to do with the contact.
  """
  side, part = vocabulary.split_side(region)
  if side is None:
    return _CENTRAL_CHAINS[part]
  return tuple(f"{side}_{joint}" for joint in _REGION_CHAINS[part])


class ContactRefiner:
  """Moves designed scenes until their true region pairs touch (one compiled program per shape).

  Build once per model; call ``refine`` per scene. Pairs are padded to ``max_pairs`` so that scenes
  with different numbers of contacts share a compilation.
  """

  def __init__(self, model: BodyModel, region_map: body_regions.RegionMap,
               proxy: penetration.PenetrationProxy, max_pairs: int = 6):
    self.model = model
    self.region_map = region_map
    self.max_pairs = int(max_pairs)
    sample_ids = np.asarray(region_map.sample_ids)
    proxy_ids = np.asarray(proxy.vertex_ids)
    vertex_ids = np.unique(np.concatenate([sample_ids.ravel(), proxy_ids]))
    local = np.full(model.v_template.shape[0], -1, np.int64)
    local[vertex_ids] = np.arange(len(vertex_ids))
    self.kernel = reduce_model(model, vertex_ids)
    rest_normals = body_regions.vertex_normals(np.asarray(model.v_template),
                                               np.asarray(model.faces))
    dominant = np.argmax(np.asarray(model.lbs_weights), axis=1)
    self.tables = {
        "samples": jnp.asarray(local[sample_ids], jnp.int32),
        "valid": jnp.asarray(region_map.sample_valid),
        "normals": jnp.asarray(rest_normals[sample_ids], jnp.float32),
        "joint": jnp.asarray(dominant[sample_ids], jnp.int32),
    }
    self.local_proxy = proxy.reindexed(vertex_ids)
    self._compiled = {}
    self._body_joint_index = {name: i for i, name in enumerate(model.joint_names[1:22])}

  def _pairs(self, pairs: Sequence[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if len(pairs) > self.max_pairs:
      raise InvalidInputError(
          f"at most {self.max_pairs} contact pairs per scene, got {len(pairs)}")
    index = np.zeros((2, self.max_pairs), np.int32)
    index[:, :len(pairs)] = np.asarray([[vocabulary.REGION_INDEX[r] for r in pair]
                                        for pair in pairs], np.int32).reshape(-1, 2).T
    return index[0], index[1], np.arange(self.max_pairs) < len(pairs)

  def refine(self, params: dict[str, np.ndarray], pairs: Sequence[tuple[str, str]],
             moving_person: int | None, weights: RefineWeights = RefineWeights()
             ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Refines one scene.

    Args:
      params: numpy ``betas, global_orient, body_pose, transl`` of 1 or 2 people (leading axis),
        in the scene frame (y up).
      pairs: true contact pairs (resolved region names), ``(body 0 region, body 1 region)``.
      moving_person: the person whose placement may change, or None.
      weights: loss weights and schedule.

    Returns:
      ``(refined params, loss history (steps,))``.
    """
    people = int(np.shape(params["body_pose"])[0])
    index_a, index_b, valid = self._pairs(pairs)
    rigid = np.zeros((people, 1), np.float32)
    if moving_person is not None:
      rigid[moving_person] = 1.0
    joints = np.zeros((people, 63), np.float32)
    for c, pair in enumerate(pairs):
      for column, region in enumerate(pair):
        person = column if people == 2 else 0
        for joint in moving_joints(region):
          j = self._body_joint_index[joint]
          joints[person, 3 * j:3 * j + 3] = 1.0
    key = (people, weights.steps, weights.block)
    if key not in self._compiled:
      self._compiled[key] = jax.jit(functools.partial(
          _refine_scene, steps=weights.steps, two_people=people == 2, block=weights.block))
    start = {k: jnp.asarray(params[k], jnp.float32) for k in _FIT_FIELDS}
    numbers = jnp.asarray([weights.contact, weights.contact_margin, weights.penetration,
                           weights.surface, weights.pose_anchor, weights.placement_anchor,
                           weights.learning_rate], jnp.float32)
    refined, history = self._compiled[key](
        self.kernel, self.tables, self.local_proxy, start, jnp.asarray(index_a),
        jnp.asarray(index_b), jnp.asarray(valid), jnp.asarray(rigid), jnp.asarray(joints), numbers)
    refined = {k: np.asarray(v, np.float64) for k, v in refined.items()}
    return {**params, **refined}, np.asarray(history)


_REACH = 0.015
"""Metres: points farther than this from the other region are never counted as behind it."""
_SLACK = 0.005
"""Metres of apparent depth the surface term tolerates (sampling gaps)."""


def _behind_surface(points_a, points_b, normals_b, valid_a, valid_b, reach, slack):
  """Sum of squared depths of ``points_a`` behind the surface sampled by ``points_b``/``normals_b``:
  ``max(0, -(p - q) . n_q - slack)`` with q the nearest point of B (no gradient through the
  choice), counted within ``reach`` metres; the slack allows for the gaps between samples.
  """
  squared = jnp.sum(jnp.square(points_a[:, None, :] - points_b[None, :, :]), axis=-1)
  squared = jnp.where(valid_b[None, :], squared, jnp.inf)
  nearest = jnp.argmin(jax.lax.stop_gradient(squared), axis=1)
  offset = points_a - points_b[nearest]
  signed = jnp.sum(offset * jax.lax.stop_gradient(normals_b[nearest]), axis=-1)
  close = jax.lax.stop_gradient(jnp.sum(jnp.square(offset), axis=-1)) < reach * reach
  return jnp.sum(jnp.where(valid_a & close, jnp.square(jax.nn.relu(-signed - slack)), 0.0))


def _refine_scene(kernel, tables, local_proxy, start, index_a, index_b, pair_valid, rigid, joints,
                  numbers, *, steps: int, two_people: bool, block: int):
  (w_contact, margin, w_penetration, w_surface, w_pose, w_place,
   learning_rate) = (numbers[i] for i in range(7))
  local_samples, sample_valid = tables["samples"], tables["valid"]
  betas = start["betas"]
  people = start["body_pose"].shape[0]
  other = 1 if two_people else 0

  def posed(free):
    params = BodyParams.create(kernel, batch_shape=(people,), betas=betas, **free)
    out = forward(kernel, params)
    return out.vertices, out.joint_transforms  # (P, N, 3), (P, 55, 4, 4)

  def inside_masks(free):
    # Which vertices of each body lie inside the other: refreshed once per block, as the mask
    # carries no gradient and the bodies move little within a block.
    vertices = jax.lax.stop_gradient(posed(free)[0])
    return (penetration.inside_mask(vertices[0], vertices[1], local_proxy),
            penetration.inside_mask(vertices[1], vertices[0], local_proxy))

  def loss_fn(free, inside):
    vertices, transforms = posed(free)
    points = vertices[:, local_samples]  # (P, R, K, 3)
    # Skin normals follow the rotation of each vertex's dominant joint.
    rotations = transforms[:, tables["joint"], :3, :3]  # (P, R, K, 3, 3)
    normals = jnp.einsum("prkij,rkj->prki", rotations, tables["normals"])
    a, b = points[0, index_a], points[other, index_b]
    valid_a, valid_b = sample_valid[index_a], sample_valid[index_b]
    distances = jax.vmap(_nearest_pair_distance)(a, b, valid_a, valid_b)
    contact = jnp.sum(jnp.where(pair_valid, jax.nn.relu(distances - margin), 0.0))
    depth = jax.vmap(_behind_surface, in_axes=(0, 0, 0, 0, 0, None, None))
    behind = (depth(a, b, normals[other, index_b], valid_a, valid_b, _REACH, _SLACK)
              + depth(b, a, normals[0, index_a], valid_b, valid_a, _REACH, _SLACK))
    surface = jnp.sum(jnp.where(pair_valid, behind, 0.0))
    pose_change = jnp.sum(jnp.square(free["body_pose"] - start["body_pose"]))
    place_change = jnp.sum(rigid * (jnp.square(free["transl"] - start["transl"])
                                    + jnp.square(free["global_orient"] - start["global_orient"])))
    total = (w_contact * contact + w_surface * surface + w_pose * pose_change
             + w_place * place_change)
    if two_people:
      total = total + w_penetration * (
          penetration.penetration_penalty(vertices[0], vertices[1], inside[0])
          + penetration.penetration_penalty(vertices[1], vertices[0], inside[1]))
    return total

  schedule = optax.cosine_decay_schedule(1.0, steps)
  # A short second-moment memory: a burst of penetration gradient must not freeze the contact
  # term for hundreds of steps afterwards.
  optimizer = optax.chain(optax.scale_by_adam(b2=0.99), optax.scale_by_schedule(schedule))
  masks = {"body_pose": joints, "global_orient": rigid, "transl": rigid}
  free = {k: start[k] for k in masks}

  def step(carry, _):
    free, state, inside = carry
    loss, grads = jax.value_and_grad(loss_fn)(free, inside)
    updates, state = optimizer.update(grads, state)
    free = {k: free[k] - learning_rate * masks[k] * updates[k] for k in free}
    return (free, state, inside), loss

  def run_block(carry, _):
    free, state = carry
    inside = inside_masks(free) if two_people else (None, None)
    (free, state, _), losses = jax.lax.scan(step, (free, state, inside), None, length=block)
    return (free, state), losses

  (free, _), history = jax.lax.scan(run_block, (free, optimizer.init(free)), None,
                                    length=steps // block)
  return free, history.reshape(-1)


def region_distance_table(vertices_a: np.ndarray, vertices_b: np.ndarray, masks: np.ndarray,
                          names_a: Sequence[str], names_b: Sequence[str]) -> np.ndarray:
  """Minimum distance between the full vertex sets of every region pair (numpy, k-d trees).

  Args:
    vertices_a: (V, 3) posed vertices of the first body, metres.
    vertices_b: (V, 3) posed vertices of the second body (the same array for one person).
    masks: (23, V) region masks (``RegionMap.masks``).
    names_a, names_b: regions of the first body (rows) and of the second (columns).

  Returns:
    (len(names_a), len(names_b)) metres.
  """
  table = np.empty((len(names_a), len(names_b)))
  for j, name_b in enumerate(names_b):
    tree = cKDTree(vertices_b[masks[vocabulary.REGION_INDEX[name_b]]])
    nearest, _ = tree.query(vertices_a)
    for i, name_a in enumerate(names_a):
      table[i, j] = nearest[masks[vocabulary.REGION_INDEX[name_a]]].min()
  return table


def measure_scene(model: BodyModel, region_map: body_regions.RegionMap,
                  proxy: penetration.PenetrationProxy, vertices: np.ndarray,
                  pairs: Sequence[tuple[str, str]], answerable: Sequence[str],
                  tolerance: float, rest_distances: np.ndarray | None = None
                  ) -> SceneMeasurement:
  """Checks a posed scene on the full meshes.

  Args:
    model, region_map, proxy: the body model, its regions and its penetration proxy.
    vertices: (P, V, 3) posed vertices, metres.
    pairs: the true contact pairs.
    answerable: region names a simulated answer can name (for ``also_touching``).
    tolerance: metres: pairs closer than this touch.
    rest_distances: one person: (A, A) region distances of ``answerable`` in the rest pose; pairs
      already touching at rest (neighbours such as hand and arm) are never reported as touching.
  """
  masks = np.asarray(region_map.masks)
  vertices = np.asarray(vertices, np.float64)
  two_people = vertices.shape[0] == 2
  other = vertices[1] if two_people else vertices[0]
  distances = np.array([
      region_distance_table(vertices[0], other, masks, [a], [b])[0, 0] for a, b in pairs])

  names = list(answerable)
  table = region_distance_table(vertices[0], other, masks, names, names)
  true = {tuple(p) for p in pairs}
  touching = []
  for i, a in enumerate(names):
    for j, b in enumerate(names):
      if table[i, j] >= tolerance or (a, b) in true:
        continue
      if not two_people and (j <= i or (b, a) in true or rest_distances is None
                             or rest_distances[i, j] < 0.1):
        continue
      touching.append((a, b))

  if two_people:
    contact_regions = [vocabulary.REGION_INDEX[p[k]] for p in pairs for k in (0, 1)]
    queries = np.union1d(np.asarray(proxy.vertex_ids),
                         np.flatnonzero(masks[contact_regions].any(0)))
    depth = _pair_penetration_depth(vertices[0], vertices[1], proxy, queries)
  else:
    depth = _self_contact_depth(vertices[0], np.asarray(model.faces), masks, pairs)
  return SceneMeasurement(contact_distances=distances, penetration_depth=depth,
                          also_touching=tuple(touching))


_jitted_inside_mask = jax.jit(penetration.inside_mask)


def _pair_penetration_depth(vertices_a: np.ndarray, vertices_b: np.ndarray,
                            proxy: penetration.PenetrationProxy, queries: np.ndarray) -> float:
  """Metres: the deepest query vertex of either body inside the other's proxy.

  Queries are the proxy's vertices (spread over the whole body) plus every vertex of the regions
  that should touch, where the bodies meet; testing all 10,475 would cost seconds per scene.
  """
  depth = 0.0
  for points, others in ((vertices_a[queries], vertices_b), (vertices_b[queries], vertices_a)):
    inside = np.asarray(_jitted_inside_mask(jnp.asarray(points, jnp.float32),
                                            jnp.asarray(others, jnp.float32), proxy))
    if inside.any():
      nearest, _ = cKDTree(others).query(points[inside])
      depth = max(depth, float(nearest.max()))
  return depth


def _self_contact_depth(vertices: np.ndarray, faces: np.ndarray, masks: np.ndarray,
                        pairs: Sequence[tuple[str, str]]) -> float:
  """Metres: the deepest point of one region behind the other region's surface, over the pairs.

  For each vertex of region a within 5 cm of region b, the signed distance along the normal of its
  nearest vertex of b (negative = behind b's surface); and the same with a and b exchanged.
  """
  normals = body_regions.vertex_normals(vertices, faces)
  depth = 0.0
  for a, b in pairs:
    for first, second in ((a, b), (b, a)):
      ids_b = np.flatnonzero(masks[vocabulary.REGION_INDEX[second]])
      ids_a = np.setdiff1d(np.flatnonzero(masks[vocabulary.REGION_INDEX[first]]), ids_b)
      distance, nearest = cKDTree(vertices[ids_b]).query(vertices[ids_a])
      close = distance < 0.05
      if not close.any():
        continue
      q = ids_b[nearest[close]]
      signed = np.einsum("ij,ij->i", vertices[ids_a[close]] - vertices[q], normals[q])
      depth = max(depth, float(max(0.0, -signed.min())))
  return depth


_HEAD_JOINTS = ("head", "jaw", "left_eye_smplhf", "right_eye_smplhf")
_KEYPOINT_OWNERS: dict[str, tuple[str, ...]] = {
    "nose": _HEAD_JOINTS,
    "neck": ("neck", "spine3", "left_collar", "right_collar", "head"),
    "mid_hip": ("pelvis", "left_hip", "right_hip", "spine1"),
}
for _side in ("left", "right"):
  _KEYPOINT_OWNERS.update({
      f"{_side}_shoulder": (f"{_side}_collar", f"{_side}_shoulder", "spine3", "neck"),
      f"{_side}_elbow": (f"{_side}_shoulder", f"{_side}_elbow"),
      f"{_side}_wrist": (f"{_side}_elbow", f"{_side}_wrist"),
      f"{_side}_hip": ("pelvis", f"{_side}_hip", "spine1"),
      f"{_side}_knee": (f"{_side}_hip", f"{_side}_knee"),
      f"{_side}_ankle": (f"{_side}_knee", f"{_side}_ankle", f"{_side}_foot"),
      f"{_side}_eye": _HEAD_JOINTS, f"{_side}_ear": _HEAD_JOINTS,
      **{f"{_side}_{n}": (f"{_side}_ankle", f"{_side}_foot")
         for n in ("big_toe", "small_toe", "heel")},
  })
del _side

_SURFACE_KEYPOINTS = frozenset(
    n for n in body_keypoints.BODY_25_NAMES
    if n == "nose" or n.endswith(("_eye", "_ear", "_toe", "_heel")))
"""BODY_25 points that lie on the skin (vertex landmarks) rather than inside a limb."""

SURFACE_DEPTH_ALLOWANCE = 0.03
"""Metres: a skin keypoint is visible when the nearest surface in front of it is at most this much
closer to the camera than the keypoint itself."""


def keypoint_owner_joints(joint_names: Sequence[str]) -> list[np.ndarray]:
  """For each BODY_25 keypoint, the skeleton joints whose dominant skin belongs to it (int
  arrays)."""
  index = {name: i for i, name in enumerate(joint_names)}
  owners = []
  for name in body_keypoints.BODY_25_NAMES:
    joints = [index[j] for j in _KEYPOINT_OWNERS[name] if j in index]
    if name.endswith("_wrist"):
      side = name.split("_")[0]
      joints += [i for n, i in index.items() if n.startswith(side + "_") and n[len(side) + 1:] in
                 {f"{f}{k}" for f in ("index", "middle", "pinky", "ring", "thumb") for k in "123"}]
    owners.append(np.asarray(sorted(joints), np.int64))
  return owners


def visible_keypoints(keypoints_camera: np.ndarray, pixels: np.ndarray,
                      vertices_camera: np.ndarray,
                      vertex_pixels: np.ndarray, vertex_joint: np.ndarray, faces: np.ndarray,
                      owners: Sequence[np.ndarray], image_size: tuple[int, int]) -> np.ndarray:
  """Which keypoints the camera sees (a documented heuristic, not a renderer).

  Every body's vertices are splatted into a depth buffer of cells about two projected edge
  lengths wide (so the surface has no holes), keeping the nearest vertex per cell with its person
  and dominant skinning joint. A keypoint inside a limb is visible when, in its cell and the eight
  around it, the nearest surface is its own person's and one of its own joints
  (``keypoint_owner_joints``); a keypoint on the skin (nose, eyes, ears, toes, heels) when no
  surface lies more than ``SURFACE_DEPTH_ALLOWANCE`` in front of it. Keypoints outside the image
  are not visible.

  Args:
    keypoints_camera: (P, 25, 3) keypoints in camera space, metres.
    pixels: (P, 25, 2) their projections, pixels.
    vertices_camera: (P, V, 3) vertices in camera space, metres.
    vertex_pixels: (P, V, 2) their projections, pixels.
    vertex_joint: (V,) dominant skinning joint of each vertex.
    faces: (F, 3) the mesh's triangles (for the projected edge length).
    owners: per keypoint, its own joints.
    image_size: (width, height) pixels.

  Returns:
    (P, 25) bool.
  """
  people, num_vertices = vertices_camera.shape[:2]
  width, height = image_size
  edges = vertex_pixels[:, faces[:, 0]] - vertex_pixels[:, faces[:, 1]]
  cell = max(1.0, 2.0 * float(np.median(np.linalg.norm(edges, axis=-1))))
  columns, rows = int(np.ceil(width / cell)) + 2, int(np.ceil(height / cell)) + 2

  depth = np.full(rows * columns, np.inf)
  owner = np.full(rows * columns, -1, np.int64)
  flat_pixels = vertex_pixels.reshape(-1, 2)
  flat_depth = vertices_camera[..., 2].reshape(-1)
  label = (np.arange(people)[:, None] * 1000 + vertex_joint[None, :]).reshape(-1)
  cx = np.floor(flat_pixels[:, 0] / cell).astype(np.int64) + 1
  cy = np.floor(flat_pixels[:, 1] / cell).astype(np.int64) + 1
  inside = (cx >= 0) & (cx < columns) & (cy >= 0) & (cy < rows) & (flat_depth > 0)
  cells = (cy * columns + cx)[inside]
  order = np.argsort(-flat_depth[inside], kind="stable")  # far first: the near ones overwrite
  depth[cells[order]] = flat_depth[inside][order]
  owner[cells[order]] = label[inside][order]

  visible = np.zeros(pixels.shape[:2], bool)
  for p in range(people):
    for k, name in enumerate(body_keypoints.BODY_25_NAMES):
      u, v = pixels[p, k]
      if not (0 <= u < width and 0 <= v < height):
        continue
      kx, ky = int(np.floor(u / cell)) + 1, int(np.floor(v / cell)) + 1
      window = np.asarray([(ky + dy) * columns + (kx + dx) for dy in (-1, 0, 1)
                           for dx in (-1, 0, 1) if 0 <= kx + dx < columns and 0 <= ky + dy < rows])
      covered = np.isfinite(depth[window])
      if not covered.any():
        visible[p, k] = True
        continue
      nearest = window[covered][np.argmin(depth[window][covered])]
      if name in _SURFACE_KEYPOINTS:
        visible[p, k] = depth[nearest] >= keypoints_camera[p, k, 2] - SURFACE_DEPTH_ALLOWANCE
      else:
        who, joint = divmod(int(owner[nearest]), 1000)
        visible[p, k] = who == p and joint in owners[k]
  return visible
