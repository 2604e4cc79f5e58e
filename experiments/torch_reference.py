"""The benchmark's peer: the reference's fitting loop written plainly in PyTorch (benchmark only).

This is how the public reference (PyTorch, on BUDDI) runs ProsePose: one image at a time, a Python
loop of Adam steps, and inside every step a Python loop over the sampled answers, the two person
roles and every left/right assignment, each row costing a minimum distance between two region
vertex sets. ``experiments/bench_fit.py`` times it next to ``posejax.fit``; the library never
imports this file.

What it computes per step (the same terms and weights as ``posejax.FitConfig.two_person()``):

* both people through ``smplx.SMPLX`` (one forward per person, on the same model file posejax
  fits with);
* the box-normalised, confidence-weighted BODY_25 keypoint loss (after the same ankle fallback);
* the contact loss: for each sample, min over roles and over the valid ones of all 2^S left/right
  assignments of the summed row distances; a row's distance is the minimum Euclidean distance
  between two region vertex sets, recomputed for every row of every assignment as the reference
  does. The vertex sets are posejax's fixed region subsamples (the reference resamples up to 80
  vertices per fine region every step), so both sides do comparable work;
* the max-mixture (GMM) pose prior, the init-pose and shape priors;
* in stage 2, interpenetration: the generalized winding number of every vertex of each body against
  the other body's closed proxy mesh (``posejax.losses.penetration.build_model_proxy`` triangles),
  ``(100 d^2)^2`` for inside vertices with ``d`` the distance to the other body's nearest vertex.
  Each direction counts on its own, as in posejax (the reference requires both to penetrate).

Adam is ``torch.optim.Adam``, fresh per stage; a stage stops early when the least-squares slope of
the last 20 total losses is below 1e-4 in absolute value, or at its iteration cap.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import time
from typing import Sequence

import numpy as np
import smplx
import torch

SIDES = ("left", "right")

LATERAL_PARTS = ("hand", "arm", "foot", "leg", "shoulder", "shoulder (front)",
                 "shoulder (back)")

BODY_25_FROM_SMPLX = (55, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 56, 57, 58, 59, 60,
                      61, 62, 63, 64, 65)

NORMALISED_BOX = 512.0
MIN_DEPTH = 1e-3
RIGHT_ANKLE, LEFT_ANKLE = 11, 14
FEET = {RIGHT_ANKLE: (22, 23, 24), LEFT_ANKLE: (19, 20, 21)}



@dataclasses.dataclass
class Scene:
  """One two-person scene for the PyTorch loop (numpy inputs).

  Attributes:
    keypoints: (2, 25, 3) BODY_25 pixels and confidence.
    init: field -> (2, width) initial parameters (smplx's keyword fields, the model's widths).
    samples: the N answers, each a list of rows ``(cell_1, cell_2)`` of region or part names
      (a cell may be a tuple of alternatives).
    focal_length: (2,) pixels.
    principal_point: (2,) pixels.
  """

  keypoints: np.ndarray
  init: dict
  samples: list
  focal_length: np.ndarray
  principal_point: np.ndarray


@dataclasses.dataclass
class StageTiming:
  """What one stage of the PyTorch loop did."""

  iterations: int
  """Adam steps taken."""
  stopped_early: bool
  step_seconds: list
  """Wall seconds of each timed step (warm-up steps excluded)."""
  step_cpu_seconds: list
  """Process CPU seconds (all threads) of each timed step."""
  terms: dict
  """Unweighted loss terms at the last evaluated parameters."""
  first_terms: dict
  """Unweighted loss terms at the stage's starting parameters."""

  @property
  def median_step(self) -> float:
    return statistics.median(self.step_seconds) if self.step_seconds else float("nan")

  @property
  def median_step_cpu(self) -> float:
    return statistics.median(self.step_cpu_seconds) if self.step_cpu_seconds else float("nan")


def least_squares_slope(values: Sequence[float]) -> float:
  """Slope of the least-squares line through equally spaced values."""
  width = len(values)
  centre = (width - 1) / 2.0
  x = [i - centre for i in range(width)]
  mean = sum(values) / width
  return sum(xi * (v - mean) for xi, v in zip(x, values)) / sum(xi * xi for xi in x)


class ReferenceLoop:
  """The reference's per-image fitting loop in plain PyTorch.

  Args:
    model_path: an SMPL-X ``.npz`` (e.g. ``posejax.body.save_model(..., for_smplx=True)`` of the
      default body).
    region_vertex_ids: region name -> (n,) model vertex ids (posejax's fixed subsamples).
    proxy_triangles: (T, 3) model vertex ids of the closed proxy mesh's triangles.
    pose_prior: ``(means (K, 63), whiteners (K, 63, 63), neg_log_constants (K,))``.
    threads: ``torch.set_num_threads`` value.
    winding_chunk: vertices per chunk of the winding-number sum (memory ~ chunk x T floats).
    model_options: ``smplx.SMPLX`` options matching the posejax model (``num_betas``,
      ``num_expression_coeffs``, ``use_pca``, ``num_pca_comps``, ``vertex_ids``, ...).
  """

  def __init__(self, model_path: str, region_vertex_ids: dict, proxy_triangles: np.ndarray,
               pose_prior: tuple, *, threads: int, winding_chunk: int = 2048,
               model_options: dict | None = None):
    torch.set_num_threads(threads)
    options = dict(num_betas=10, num_expression_coeffs=10, use_pca=True, num_pca_comps=6,
                   flat_hand_mean=False)
    options.update(model_options or {})
    vertex_ids = options.pop("vertex_ids", None)
    self.body = smplx.SMPLX(str(model_path), batch_size=1, **options)
    if vertex_ids is not None:  # smplx.SMPLX fixes SMPL-X's own ids; a body on its own mesh
      from smplx.vertex_joint_selector import VertexJointSelector
      self.body.vertex_joint_selector = VertexJointSelector(vertex_ids=vertex_ids)
    for parameter in self.body.parameters():
      parameter.requires_grad_(False)
    self.regions = {name: torch.as_tensor(np.array(ids), dtype=torch.long)
                    for name, ids in region_vertex_ids.items()}
    self.triangles = torch.as_tensor(np.array(proxy_triangles), dtype=torch.long)
    means, whiteners, constants = pose_prior
    self.prior_means = torch.as_tensor(np.array(means), dtype=torch.float32)
    self.prior_whiteners = torch.as_tensor(np.array(whiteners), dtype=torch.float32)
    self.prior_constants = torch.as_tensor(np.array(constants), dtype=torch.float32)
    self.winding_chunk = winding_chunk
    self.body25 = torch.as_tensor(BODY_25_FROM_SMPLX, dtype=torch.long)

  # ---------------------------------------------------------------------------------------------
  # The body and the loss terms

  def people(self, params: list[dict]):
    """(vertices, joints) of each person: lists of (V, 3) and (J, 3) tensors."""
    outputs = [self.body(**{k: v[None] for k, v in person.items()}) for person in params]
    return [o.vertices[0] for o in outputs], [o.joints[0] for o in outputs]

  @staticmethod
  def project(points, focal, centre):
    depth = points[:, 2:].clamp(min=MIN_DEPTH)
    return centre + focal * points[:, :2] / depth

  @staticmethod
  def keypoint_loss(projected, keypoints):
    xy, confidence = keypoints[:, :2], keypoints[:, 2]
    usable = torch.isfinite(xy).all(dim=-1) & torch.isfinite(confidence) & (confidence > 0)
    xy = torch.where(usable[:, None], xy, torch.zeros_like(xy))
    confidence = torch.where(usable, confidence, torch.zeros_like(confidence))
    if usable.any():
      side = (xy[usable].max(dim=0).values - xy[usable].min(dim=0).values).max().clamp(min=1.0)
      scale = NORMALISED_BOX / side
    else:
      scale = torch.tensor(1.0)
    residual = scale * (projected - xy)
    return (confidence * (residual * residual).sum(dim=-1)).sum()

  @staticmethod
  def region_distance(points_a, points_b):
    squared = ((points_a[:, None, :] - points_b[None, :, :]) ** 2).sum(dim=-1)
    return squared.min().clamp(min=1e-12).sqrt()

  def contact_loss(self, vertices: list, samples: list):
    """Mean over samples of min over roles and valid assignments of the summed row distances."""
    total = vertices[0].new_zeros(())
    for rows in samples:
      if not rows:
        continue
      cells = [[_alternatives(cell) for cell in row] for row in rows]
      variables = [(r, column, k) for r, row in enumerate(cells) for column in (0, 1)
                   for k, name in enumerate(row[column]) if name in LATERAL_PARTS]
      best = None
      for role in (0, 1):
        bodies = (vertices[0], vertices[1]) if role == 0 else (vertices[1], vertices[0])
        for sides in itertools.product(SIDES, repeat=len(variables)):
          if not _valid_assignment(cells, variables, sides):
            continue
          chosen = dict(zip(variables, sides))
          cost = 0.0
          for r, row in enumerate(cells):
            names = [[_resolve(name, chosen.get((r, column, k)))
                      for k, name in enumerate(row[column])] for column in (0, 1)]
            distances = [self.region_distance(bodies[0][self.regions[a]],
                                              bodies[1][self.regions[b]])
                         for a in names[0] for b in names[1]]
            cost = cost + (distances[0] if len(distances) == 1
                           else torch.stack(distances).min())
          best = cost if best is None else torch.minimum(best, cost)
      total = total + best
    return total / max(len(samples), 1)

  def pose_prior(self, body_pose):
    offsets = body_pose[None, :] - self.prior_means
    whitened = torch.einsum("kij,kj->ki", self.prior_whiteners, offsets)
    return (0.5 * (whitened * whitened).sum(dim=-1) + self.prior_constants).min()

  def winding_numbers(self, points, triangles):
    """(N,) generalized winding numbers of points against (T, 3, 3) triangles (no grad)."""
    out = []
    for start in range(0, points.shape[0], self.winding_chunk):
      p = points[start:start + self.winding_chunk]
      a, b, c = (triangles[None, :, k, :] - p[:, None, :] for k in range(3))
      la, lb, lc = a.norm(dim=-1), b.norm(dim=-1), c.norm(dim=-1)
      triple = (a * torch.cross(b, c, dim=-1)).sum(dim=-1)
      denominator = (la * lb * lc + (a * b).sum(-1) * lc + (b * c).sum(-1) * la
                     + (c * a).sum(-1) * lb)
      out.append(2.0 * torch.atan2(triple, denominator).sum(dim=-1) / (4.0 * math.pi))
    return torch.cat(out)

  def penetration(self, vertices: list):
    """Both directions: every vertex of one body against the other's proxy."""
    total = vertices[0].new_zeros(())
    for mine, other in ((vertices[0], vertices[1]), (vertices[1], vertices[0])):
      with torch.no_grad():
        triangles = other[self.triangles]
        low, high = triangles.reshape(-1, 3).min(dim=0).values, triangles.reshape(-1, 3).max(
            dim=0).values
        inside = torch.zeros(mine.shape[0], dtype=torch.bool)
        in_box = ((mine >= low) & (mine <= high)).all(dim=-1)
        if in_box.any():
          numbers = self.winding_numbers(mine[in_box], triangles)
          inside[in_box] = numbers >= 0.99
      if inside.any():
        points = mine[inside]
        squared = ((points[:, None, :] - other[None, :, :]) ** 2).sum(dim=-1).min(dim=-1).values
        total = total + ((100.0 * squared) ** 2).sum()
    return total

  # ---------------------------------------------------------------------------------------------
  # The loop

  def prepare_keypoints(self, scene: Scene) -> torch.Tensor:
    """The ankle fallback: unreliable ankles and their feet take the initial estimate's joints."""
    keypoints = torch.as_tensor(scene.keypoints, dtype=torch.float32).clone()
    focal = torch.as_tensor(scene.focal_length, dtype=torch.float32)
    centre = torch.as_tensor(scene.principal_point, dtype=torch.float32)
    with torch.no_grad():
      params = [{k: torch.as_tensor(v[p], dtype=torch.float32) for k, v in scene.init.items()}
                for p in range(2)]
      _, joints = self.people(params)
    for p in range(2):
      projected = self.project(joints[p][self.body25], focal, centre)
      for ankle, foot in FEET.items():
        confidence = keypoints[p, ankle, 2]
        if not bool(confidence >= 0.2):
          for j in (ankle,) + foot:
            keypoints[p, j, :2] = projected[j]
            keypoints[p, j, 2] = 0.5
    return keypoints

  def fit(self, scene: Scene, config, *, steps: Sequence[int | None] | None = None,
          warmup_steps: int = 1) -> list[StageTiming]:
    """Fits one scene stage by stage, as the reference does.

    Args:
      scene: the scene.
      config: a ``posejax.FitConfig`` (stages: groups, learning rate, cap, weights, early stop).
      steps: per stage, stop after this many Adam steps (to time steps without running whole
        stages; the stage still stops earlier on its cap or early-stop rule); None entries (or
        None) run to the cap or early stop.
      warmup_steps: untimed first steps of each stage (the first step also builds caches).

    Returns:
      One ``StageTiming`` per stage.
    """
    keypoints = self.prepare_keypoints(scene)
    focal = torch.as_tensor(scene.focal_length, dtype=torch.float32)
    centre = torch.as_tensor(scene.principal_point, dtype=torch.float32)
    params = [{k: torch.as_tensor(v[p], dtype=torch.float32).clone() for k, v in scene.init.items()}
              for p in range(2)]
    anchored = lambda people: [{name: person[name].detach().clone()
                                for name in ("body_pose", "transl")} for person in people]
    anchor = anchored(params)
    timings = []
    steps = list(steps) if steps is not None else [None] * len(config.stages)
    for stage, stage_steps in zip(config.stages, steps):
      weights = stage.weights
      free = []
      for person in params:
        for name in stage.optimize:
          person[name] = person[name].detach().clone().requires_grad_(True)
          free.append(person[name])
      for person in params:
        for name in person:
          if name not in stage.optimize:
            person[name] = person[name].detach()
      optimizer = torch.optim.Adam(free, lr=stage.learning_rate)
      history, seconds, cpu_seconds, taken, stopped, first_terms = [], [], [], 0, False, None
      limit = stage.max_iters if stage_steps is None else min(stage.max_iters, stage_steps)
      while True:
        started, cpu = time.perf_counter(), time.process_time()
        optimizer.zero_grad()
        vertices, joints = self.people(params)
        terms = {}
        if weights.keypoints:
          terms["keypoints"] = sum(
              self.keypoint_loss(self.project(joints[p][self.body25], focal, centre),
                                 keypoints[p]) for p in range(2))
        if weights.contact:
          terms["contact"] = self.contact_loss(vertices, scene.samples)
        if weights.pose_prior:
          terms["pose_prior"] = sum(self.pose_prior(person["body_pose"]) for person in params)
        if weights.init_pose:
          terms["init_pose"] = sum(((person["body_pose"] - a["body_pose"]) ** 2).sum()
                                   for person, a in zip(params, anchor))
        if weights.init_placement:
          relative = lambda pair: pair[1]["transl"] - pair[0]["transl"]
          terms["init_placement"] = ((relative(params) - relative(anchor)) ** 2).sum()
        if weights.shape:
          terms["shape"] = sum((person["betas"] ** 2).sum() for person in params)
        if weights.penetration:
          terms["penetration"] = self.penetration(vertices)
        loss = sum(getattr(weights, name) * value for name, value in terms.items())
        history.append(float(loss.detach()))
        if first_terms is None:
          first_terms = {k: float(v.detach()) for k, v in terms.items()}
        window = stage.early_stop_window
        if (stage.early_stop_slope > 0 and len(history) >= window
            and abs(least_squares_slope(history[-window:])) < stage.early_stop_slope):
          stopped = True
        if stopped or taken >= limit:
          break
        loss.backward()
        optimizer.step()
        taken += 1
        if taken > warmup_steps:
          seconds.append(time.perf_counter() - started)
          cpu_seconds.append(time.process_time() - cpu)
      timings.append(StageTiming(iterations=taken, stopped_early=stopped, step_seconds=seconds,
                                 step_cpu_seconds=cpu_seconds,
                                 terms={k: float(v.detach()) for k, v in terms.items()},
                                 first_terms=first_terms))
      anchor = anchored(params)
    return timings


def _alternatives(cell) -> tuple:
  return (cell,) if isinstance(cell, str) else tuple(cell)


def _resolve(name: str, side: str | None) -> str:
  return f"{side} {name}" if side is not None else name


def _valid_assignment(cells, variables, sides) -> bool:
  """A lateral part named side-free two or more times in one column must use both sides."""
  groups: dict = {}
  for (r, column, k), side in zip(variables, sides):
    groups.setdefault((column, cells[r][column][k]), []).append(side)
  return all(len(used) < 2 or len(set(used)) == 2 for used in groups.values())


class BatchedStageOne:
  """Stage 1 (keypoints, contact, pose, init-pose and shape priors) for a batch of scenes at once,
  written as a PyTorch user would vectorise it: one ``smplx`` forward for every person of the
  batch, and the contact loss through posejax's padded constraint tables (gathers and minima over
  the rows' alternatives, the left/right assignments, the roles and the samples) instead of Python
  loops. The like-for-like peer of posejax's stage-1 step.

  Args:
    loop: a ``ReferenceLoop`` (its body, pose prior and keypoint helpers).
    region_ids: (23, K) model vertex ids of the region subsamples (posejax's), rows in
      ``vocabulary.RESOLVED_REGIONS`` order; region_valid: (23, K) bool, the real slots.
    tables: ``posejax.Constraints.stack`` of the B scenes' constraints (numpy fields).
  """

  def __init__(self, loop: ReferenceLoop, region_ids, region_valid, tables):
    self.loop = loop
    self.region_ids = torch.as_tensor(np.asarray(region_ids), dtype=torch.long)
    self.region_valid = torch.as_tensor(np.asarray(region_valid), dtype=torch.bool)
    take = lambda name, dtype=torch.long: torch.as_tensor(np.asarray(getattr(tables, name)),
                                                          dtype=dtype)
    self.pair_regions = take("pair_regions")  # (B, P, 2)
    self.variant_pairs = take("variant_pairs")  # (B, O, C, W)
    self.variant_valid = take("variant_valid", torch.bool)  # (B, C, W)
    self.entry_variants = take("entry_variants")  # (B, R, E)
    self.entry_sample = take("entry_sample")  # (B, E)
    self.entry_valid = take("entry_valid", torch.bool)  # (B, E)
    self.sample_valid = take("sample_valid", torch.bool)  # (B, N)

  def contact(self, vertices):
    """(B,) the contact loss of each scene from (B, 2, V, 3) vertices."""
    far = 1e10
    points = vertices[:, :, self.region_ids]  # (B, 2, 23, K, 3)
    batch = torch.arange(points.shape[0])[:, None]
    a = points[:, 0][batch, self.pair_regions[..., 0]]  # (B, P, K, 3)
    b = points[:, 1][batch, self.pair_regions[..., 1]]
    valid_a = self.region_valid[self.pair_regions[..., 0]]  # (B, P, K)
    valid_b = self.region_valid[self.pair_regions[..., 1]]
    squared = ((a[:, :, :, None] - b[:, :, None, :]) ** 2).sum(dim=-1)  # (B, P, K, K)
    squared = torch.where(valid_a[..., None] & valid_b[..., None, :], squared,
                          torch.full_like(squared, far))
    distances = squared.flatten(2).min(dim=-1).values.clamp(min=1e-12).sqrt()  # (B, P)
    o, c, w = self.variant_pairs.shape[1:]
    cost = torch.gather(distances[:, None, None, :].expand(-1, o, c, -1), 3,
                        self.variant_pairs)  # (B, O, C, W)
    cost = torch.where(self.variant_valid[:, None], cost, torch.full_like(cost, far))
    row_cost = cost.min(dim=2).values  # (B, O, W)
    row_cost = torch.where(self.variant_valid.any(dim=1)[:, None], row_cost,
                           torch.zeros_like(row_cost))
    has_row = self.entry_variants >= 0  # (B, R, E)
    index = self.entry_variants.clamp(min=0)
    r, e = index.shape[1:]
    rows = torch.gather(row_cost[:, :, None, :].expand(-1, -1, r, -1), 3,
                        index[:, None].expand(-1, o, -1, -1))  # (B, O, R, E)
    totals = torch.where(has_row[:, None], rows, torch.zeros_like(rows)).sum(dim=2)  # (B, O, E)
    per_entry = totals.min(dim=1).values  # (B, E)
    samples = self.sample_valid.shape[1]
    member = (self.entry_sample[:, None, :] == torch.arange(samples)[None, :, None]) \
        & self.entry_valid[:, None, :]  # (B, N, E)
    per_sample = torch.where(member, per_entry[:, None, :], torch.full_like(member, far,
                                                                             dtype=cost.dtype))
    per_sample = per_sample.min(dim=-1).values
    per_sample = torch.where(self.sample_valid, per_sample, torch.zeros_like(per_sample))
    return per_sample.sum(dim=1) / self.sample_valid.sum(dim=1).clamp(min=1)

  def terms(self, params: dict, keypoints, anchor, focal, centre):
    """(B, 5) stage-1 terms (keypoints, contact, pose_prior, init_pose, shape), unweighted.

    Args:
      params: field -> (B, 2, width) tensors; keypoints: (B, 2, 25, 3) after the ankle fallback;
      anchor: (B, 2, 63); focal, centre: (2,) pixels (one camera for the batch).
    """
    batch = keypoints.shape[0]
    flat = {k: v.reshape(batch * 2, -1) for k, v in params.items()}
    out = self.loop.body(**flat)
    vertices = out.vertices.reshape(batch, 2, -1, 3)
    joints = out.joints[:, self.loop.body25].reshape(batch, 2, -1, 3)
    depth = joints[..., 2:].clamp(min=MIN_DEPTH)
    projected = centre + focal * joints[..., :2] / depth
    xy, confidence = keypoints[..., :2], keypoints[..., 2]
    usable = torch.isfinite(xy).all(dim=-1) & torch.isfinite(confidence) & (confidence > 0)
    xy = torch.where(usable[..., None], xy, torch.zeros_like(xy))
    confidence = torch.where(usable, confidence, torch.zeros_like(confidence))
    big = torch.full_like(xy, float("inf"))
    high = torch.where(usable[..., None], xy, -big).max(dim=2).values
    low = torch.where(usable[..., None], xy, big).min(dim=2).values
    side = (high - low).max(dim=-1).values.clamp(min=1.0)  # (B, 2)
    scale = torch.where(usable.any(dim=-1), NORMALISED_BOX / side, torch.ones_like(side))
    residual = scale[..., None, None] * (projected - xy)
    keypoint_term = (confidence * (residual * residual).sum(dim=-1)).sum(dim=(1, 2))
    pose = params["body_pose"].reshape(batch * 2, -1)
    offsets = pose[:, None, :] - self.loop.prior_means[None]
    whitened = torch.einsum("kij,nkj->nki", self.loop.prior_whiteners, offsets)
    energy = (0.5 * (whitened * whitened).sum(dim=-1) + self.loop.prior_constants).min(dim=-1)
    prior = energy.values.reshape(batch, 2).sum(dim=1)
    init_pose = ((params["body_pose"] - anchor) ** 2).sum(dim=(1, 2))
    shape = (params["betas"] ** 2).sum(dim=(1, 2))
    return torch.stack([keypoint_term, self.contact(vertices), prior, init_pose, shape], dim=1)
