"""The language-model contact loss: region distances, then every sample by gathers and reductions.

The published loss (METHOD.md, "Parsing and aggregation"), for one image with N sampled answers:

  two people:  L = 1/N * sum_i min_role min_assignment sum_rows d(a, b)
  one person:  L = 1/N * sum_i sum_kept_rows min_sides d(a, b)

with d(a, b) the minimum Euclidean distance in metres (not squared) between the vertices of region
``a`` on one body and region ``b`` on the other (or the same) body. Empty samples count in N. The
loss weight is the caller's (the fitter's) business.

Where posejax differs from the reference implementation, on purpose:

* alternatives in one cell are an OR (the minimum over them), not an AND;
* each region is a fixed, deterministic vertex subset (``posejax.body.regions``), not a random
  resample of up to 80 vertices per fine region at every iteration;
* the number of enumerated left/right assignments is reduced exactly (see ``posejax.constraints``).

Evaluation: ``region_pair_distances`` computes one distance per region pair that the constraints
name (``Constraints.pair_regions``), once per step; ``sample_losses`` turns them into per-sample
costs with a single gather (``Constraints.pair_index``) and masked minima and sums. Everything is
written for one image; ``jax.vmap`` over a ``Constraints.stack`` batches images.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from posejax.body import vocabulary
from posejax.constraints import Constraints
from posejax.errors import InvalidInputError

FAR = 1e10
"""Stand-in cost (metres) of masked entries; any real body distance is far below it."""


def safe_norm(x: jax.Array, axis: int = -1) -> jax.Array:
  """Euclidean norm with a zero (not NaN) gradient at the zero vector."""
  squared = jnp.sum(jnp.square(x), axis=axis)
  positive = squared > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def region_pair_distances(
    points_a: jax.Array,
    points_b: jax.Array,
    valid: jax.Array,
    constraints: Constraints,
) -> jax.Array:
  """The minimum distance between two region vertex sets, for every pair the constraints name.

  The closest vertex pair is found without gradient; the distance is then recomputed from those two
  vertices, so the gradient reaches exactly the two closest vertices (as the exact minimum's does)
  and the backward pass never touches the (K, K) distance table.

  Args:
    points_a: (23, K, 3) metres: the region subsamples of body 0, regions in
      ``vocabulary.RESOLVED_REGIONS`` order (``posejax.body.regions`` gives the vertex ids).
    points_b: (23, K, 3) metres: the same for body 1; for one person, ``points_a`` again.
    valid: (23, K) bool: which subsample slots are real vertices (regions have different sizes).
    constraints: unbatched ``Constraints``.

  Returns:
    (P,) metres, entry p for ``constraints.pair_regions[p]``; ``FAR`` where a region has no valid
    vertex; padding pairs hold finite values that the loss masks out.
  """
  regions = jnp.asarray(constraints.pair_regions)
  points_a = points_a[regions[:, 0]]
  points_b = points_b[regions[:, 1]]
  valid_a = valid[regions[:, 0]]
  valid_b = valid[regions[:, 1]]

  def closest(pa, pb, va, vb):
    squared = jnp.sum(jnp.square(pa[:, None, :] - pb[None, :, :]), axis=-1)
    squared = jnp.where(va[:, None] & vb[None, :], squared, jnp.inf)
    flat = jnp.argmin(squared)
    return flat // pb.shape[0], flat % pb.shape[0]

  i, j = jax.vmap(closest)(jax.lax.stop_gradient(points_a), jax.lax.stop_gradient(points_b),
                           valid_a, valid_b)
  nearest_a = jnp.take_along_axis(points_a, i[:, None, None], axis=1)[:, 0]
  nearest_b = jnp.take_along_axis(points_b, j[:, None, None], axis=1)[:, 0]
  distance = safe_norm(nearest_a - nearest_b)
  return jnp.where(jnp.any(valid_a, axis=-1) & jnp.any(valid_b, axis=-1), distance, FAR)


def _masked_min(x: jax.Array, mask: jax.Array, temperature) -> jax.Array:
  """Minimum over the last axis of the entries where ``mask``; ``FAR`` where there are none.

  With a temperature (metres), the soft minimum -t log sum exp(-x / t) over the masked entries,
  which is below the minimum by at most t log(count) and gives every entry a share of the gradient.
  """
  x = jnp.where(mask, x, FAR)
  hard = jnp.min(x, axis=-1)
  if temperature is None:
    return hard
  shift = jax.lax.stop_gradient(hard)
  weights = jnp.where(mask, jnp.exp(-(x - shift[..., None]) / temperature), 0.0)
  total = jnp.sum(weights, axis=-1)
  any_valid = jnp.any(mask, axis=-1)
  soft = shift - temperature * jnp.log(jnp.where(any_valid, total, 1.0))
  return jnp.where(any_valid, soft, FAR)


def sample_losses(distances: jax.Array, constraints: Constraints, *, temperature=None) -> jax.Array:
  """The cost of every sample: min over roles and valid assignments of the summed row costs.

  Args:
    distances: (P,) metres from ``region_pair_distances``.
    constraints: unbatched ``Constraints``.
    temperature: None for exact minima (the published loss), or a soft-min temperature in metres
      used for the minima over alternatives, left/right assignments and person roles (the region
      distances stay exact minima).

  Returns:
    (N,) metres; 0 for empty samples and for padding samples.
  """
  c = constraints
  cost = distances[jnp.asarray(c.pair_index)]  # (N, O, A, R, C)
  combo_valid = jnp.asarray(c.combo_valid)[:, None, None]
  row = _masked_min(cost, jnp.broadcast_to(combo_valid, cost.shape), temperature)
  row = jnp.where(jnp.asarray(c.row_valid)[:, None, None], row, 0.0)
  total = jnp.sum(row, axis=-1)  # (N, O, A)
  assignment_valid = jnp.broadcast_to(jnp.asarray(c.assignment_valid)[:, None], total.shape)
  best = _masked_min(total, assignment_valid, temperature)  # (N, O)
  best = _masked_min(best, jnp.ones(best.shape, bool), temperature)  # (N,)
  return jnp.where(jnp.asarray(c.sample_valid), best, 0.0)


def contact_loss_from_distances(
    distances: jax.Array,
    constraints: Constraints,
    *,
    temperature=None,
    count_empty: bool = True,
) -> jax.Array:
  """The mean of ``sample_losses`` over the samples (see ``contact_loss``)."""
  per_sample = sample_losses(distances, constraints, temperature=temperature)
  real = jnp.asarray(constraints.sample_valid)
  if not count_empty:
    real = real & jnp.asarray(constraints.sample_nonempty)
  return jnp.sum(per_sample) / jnp.maximum(jnp.sum(real), 1)


def contact_loss(
    points_a: jax.Array,
    points_b: jax.Array | None,
    valid: jax.Array | None,
    constraints: Constraints,
    *,
    temperature=None,
    count_empty: bool = True,
) -> jax.Array:
  """The language-model contact loss of one image (unweighted), in metres.

  Two people: the mean over samples of the minimum over person roles and valid left/right
  assignments of the sum over rows of the minimum over each row's alternatives of the region
  distance. One person: the same with sides chosen per row and only the rows the frequency filter
  kept (``Constraints.from_pairs``). Batch images with ``jax.vmap`` over ``Constraints.stack``.

  Args:
    points_a: (23, K, 3) metres: the region vertex subsamples of body 0 (see
      ``region_pair_distances``).
    points_b: (23, K, 3) metres: those of body 1; for one person pass None (or ``points_a``).
    valid: (23, K) bool mask of real subsample slots, shared by both bodies; None: all real.
    constraints: unbatched ``Constraints`` of the image.
    temperature: None (exact minima, the published loss) or a soft-min temperature in metres.
    count_empty: True (published): empty samples count in the mean and cost 0; False: average over
      the non-empty samples only.

  Returns:
    () the loss in metres; 0 when every sample is empty.

  Raises:
    InvalidInputError: points or mask of the wrong shape, or stacked constraints (use vmap).
  """
  if points_b is None:
    points_b = points_a
  regions = len(vocabulary.RESOLVED_REGIONS)
  for name, points in (("points_a", points_a), ("points_b", points_b)):
    if np.ndim(points) != 3 or np.shape(points)[0] != regions or np.shape(points)[2] != 3:
      raise InvalidInputError(f"{name} must have shape ({regions}, K, 3), got {np.shape(points)}")
  if np.shape(points_a) != np.shape(points_b):
    raise InvalidInputError(f"points_a {np.shape(points_a)} and points_b {np.shape(points_b)} "
                            f"must have the same shape (one region subsampling for both bodies)")
  if valid is None:
    valid = jnp.ones(np.shape(points_a)[:2], bool)
  if np.shape(valid) != np.shape(points_a)[:2]:
    raise InvalidInputError(f"valid must have shape {np.shape(points_a)[:2]}, got {np.shape(valid)}")
  if constraints.batch_shape:
    raise InvalidInputError(
        f"contact_loss takes the constraints of one image, got a stack {constraints.batch_shape}; "
        f"use jax.vmap over the stack")
  distances = region_pair_distances(points_a, points_b, jnp.asarray(valid, bool), constraints)
  return contact_loss_from_distances(distances, constraints, temperature=temperature,
                                     count_empty=count_empty)
