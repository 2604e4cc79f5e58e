"""The language-model contact loss: region distances, then every sample by gathers and reductions.

The published loss (METHOD.md, "Parsing and aggregation"), for one image with N sampled answers:

  two people:  L = 1/N * sum_i min_role min_assignment sum_rows d(a, b)
  one person:  L = 1/N * sum_i sum_kept_rows min_sides d(a, b)

with d(a, b) the minimum Euclidean distance in metres between the vertices of region ``a`` on one
body and region ``b`` on the other (or the same) body. Empty samples count in N.

Unlike the reference, alternatives in one cell are an OR (the minimum), not an AND; each region is
a fixed vertex subset (``posejax.body.regions``), not a random resample every iteration; and the
left/right assignments are reduced exactly (``posejax.constraints``).

The closest-pair search (P x K x K squared distances) and the choice of role, assignment and
alternative have no gradient, so a fit may make them every few steps only, as ICP does:
``contact_surrogate`` records them and ``surrogate_contact_loss`` evaluates the loss linearised
there. The surrogate equals the loss where it was made and is never below it (the loss is concave
and increasing in the distances, and a stale pair's distance is at least the true minimum), so
minimising it between searches also lowers the loss (majorise-minimise).
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from posejax.body import vocabulary
from posejax.constraints import Constraints
from posejax.errors import InvalidInputError
from posejax.losses.proximity import safe_sqrt

FAR = 1e10
"""Stand-in cost (metres) of masked entries; any real body distance is far below it."""


_PARKED = 1e6
"""Where padding slots are put during the nearest-pair search (metres): never nearer than a real
vertex, and its square still far from float32 overflow."""

_UNSIGNED = {2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}
"""The unsigned integer type of a float type's width, by its size in bytes."""


def closest_pairs(
    points_a: jax.Array,
    points_b: jax.Array,
    valid: jax.Array,
    constraints: Constraints,
) -> jax.Array:
  """For every region pair the constraints name, which two subsample slots are closest.

  The exhaustive search (P x K x K squared distances) that dominates the loss's cost; without
  gradient, so its result may be reused for a few steps (``contact_loss(..., closest=...)``).

  Args:
    points_a, points_b, valid, constraints: as ``region_pair_distances``.

  Returns:
    (P, 2) int32: slot ``[p, 0]`` of region ``pair_regions[p, 0]`` in ``points_a`` and slot
    ``[p, 1]`` of region ``pair_regions[p, 1]`` in ``points_b``: a pair whose squared distance is
    the minimum up to a relative 2^-(m - b) (m mantissa bits, b = log2 K index bits: 2^-18 in
    float32 at K = 32, i.e. a micrometre in a metre; 2^-47 in float64). Among pairs that close,
    the lowest slot of ``points_a``, then the lowest of ``points_b``.
  """
  regions = jnp.asarray(constraints.pair_regions)
  points_a, valid_a = points_a[regions[:, 0]], valid[regions[:, 0]]
  points_b, valid_b = points_b[regions[:, 1]], valid[regions[:, 1]]
  # Padding slots are parked far away (opposite directions for the two sets) instead of masked.
  # For every slot of B the nearest slot of A so far is kept, one slot of A at a time, on (P, K)
  # planes per coordinate (vectorises better on CPU than a (P, K, K) table). The slot of A rides
  # in the low bits of the squared distance (a non-negative float orders like its bits as an
  # unsigned integer), so keeping the nearest is a single integer minimum.
  fixed_a = jnp.where(valid_a[..., None], jax.lax.stop_gradient(points_a), _PARKED)
  fixed_b = jnp.where(valid_b[..., None], jax.lax.stop_gradient(points_b), -_PARKED)
  planes_a = jnp.moveaxis(fixed_a, -1, 0)  # (3, P, K)
  planes_b = jnp.moveaxis(fixed_b, -1, 0)
  slots = planes_a.shape[-1]
  bits = _UNSIGNED[jnp.dtype(planes_a.dtype).itemsize]
  slot_mask = bits((1 << max(slots - 1, 1).bit_length()) - 1)

  def nearer(i, best):
    squared = sum(jnp.square(planes_a[axis, :, i, None] - planes_b[axis]) for axis in range(3))
    packed = (jax.lax.bitcast_convert_type(squared, bits) & ~slot_mask) | i.astype(bits)
    return jnp.minimum(best, packed)

  start = jnp.full(planes_b.shape[1:], jnp.iinfo(bits).max, bits)
  best = jax.lax.fori_loop(0, slots, nearer, start, unroll=min(8, slots))
  lowest, j = _first_min(best)
  i = lowest & slot_mask
  return jnp.stack([i.astype(jnp.int32), j.astype(jnp.int32)], axis=-1)


def region_pair_distances(
    points_a: jax.Array,
    points_b: jax.Array,
    valid: jax.Array,
    constraints: Constraints,
    closest: jax.Array | None = None,
) -> jax.Array:
  """The minimum distance between two region vertex sets, for every pair the constraints name.

  The closest vertex pair is found without gradient (``closest_pairs``); the distance is then
  recomputed from those two vertices, so the gradient reaches exactly the two closest vertices
  (as the exact minimum's does) and the backward pass never touches the (K, K) table.

  Args:
    points_a: (23, K, 3) metres: the region subsamples of body 0, regions in
      ``vocabulary.RESOLVED_REGIONS`` order (``posejax.body.regions`` gives the vertex ids).
    points_b: (23, K, 3) metres: the same for body 1; for one person, ``points_a`` again.
    valid: (23, K) bool: which subsample slots are real vertices (regions have different sizes).
    constraints: unbatched ``Constraints``.
    closest: optional (P, 2) int32 from ``closest_pairs`` on earlier points: skips the search
      and measures those slot pairs instead; the result is then an upper bound of the minimum.

  Returns:
    (P,) metres, entry p for ``constraints.pair_regions[p]``; ``FAR`` where a region has no valid
    vertex; padding pairs hold finite values that the loss masks out.
  """
  if closest is None:
    closest = closest_pairs(points_a, points_b, valid, constraints)
  regions = jnp.asarray(constraints.pair_regions)
  nearest_a = points_a[regions[:, 0], closest[:, 0]]
  nearest_b = points_b[regions[:, 1], closest[:, 1]]
  distance = safe_sqrt(jnp.sum(jnp.square(nearest_a - nearest_b), axis=-1))
  has_vertices = jnp.any(valid, axis=-1)
  return jnp.where(has_vertices[regions[:, 0]] & has_vertices[regions[:, 1]], distance, FAR)


def _masked_min(x: jax.Array, mask: jax.Array, temperature, axis: int = -1) -> jax.Array:
  """Minimum over ``axis`` of the entries where ``mask``; ``FAR`` where there are none.

  With a temperature (metres), the soft minimum -t log sum exp(-x / t) over the masked entries,
  which is below the minimum by at most t log(count) and gives every entry a share of the gradient.
  """
  x = jnp.where(mask, x, FAR)
  hard = jnp.min(x, axis=axis)
  if temperature is None:
    return hard
  shift = jax.lax.stop_gradient(hard)
  weights = jnp.where(mask, jnp.exp(-(x - jnp.expand_dims(shift, axis)) / temperature), 0.0)
  total = jnp.sum(weights, axis=axis)
  any_valid = jnp.any(mask, axis=axis)
  soft = shift - temperature * jnp.log(jnp.where(any_valid, total, 1.0))
  return jnp.where(any_valid, soft, FAR)


def _first_min(x: jax.Array, axis: int = -1) -> tuple[jax.Array, jax.Array]:
  """The minimum over ``axis`` and its lowest index: two plain minima, faster than argmin on CPU."""
  lowest = jnp.min(x, axis=axis)
  shape = [1] * x.ndim
  shape[axis] = x.shape[axis]
  index = jnp.arange(x.shape[axis]).reshape(shape)
  first = jnp.min(jnp.where(x == jnp.expand_dims(lowest, axis), index, x.shape[axis] - 1),
                  axis=axis)
  return lowest, first


def _entry_totals(row_costs: jax.Array, constraints: Constraints) -> jax.Array:
  """(O, E) every entry's summed row costs under each role, from (O, W) row-variant costs."""
  variants = jnp.asarray(constraints.entry_variants)  # (R, E), -1 for no row
  rows = jnp.where(variants >= 0, row_costs[:, variants], 0.0)  # (O, R, E)
  return jnp.sum(rows, axis=1)


def _sample_membership(constraints: Constraints) -> jax.Array:
  """(N, E) bool: which real entries belong to each sample."""
  samples = np.shape(constraints.sample_valid)[-1]
  entry_sample = jnp.asarray(constraints.entry_sample)
  return (entry_sample[None, :] == jnp.arange(samples)[:, None]) \
      & jnp.asarray(constraints.entry_valid)[None, :]


def _exact_sample_losses(distances: jax.Array, constraints: Constraints) -> jax.Array:
  """``sample_losses`` with exact minima, through one gather of the chosen pairs.

  The choices are made on distances without gradient and the chosen distances summed: same value
  and, away from ties, the same gradient, but the backward pass scatters N x R values, not the
  whole (O, C, W) table.
  """
  c = constraints
  variant_pairs = jnp.asarray(c.variant_pairs)  # (O, C, W)
  variant_valid = jnp.asarray(c.variant_valid)  # (C, W)
  frozen = jax.lax.stop_gradient(distances)
  cost = jnp.where(variant_valid[None], frozen[variant_pairs], FAR)
  row_cost, row_combo = _first_min(cost, axis=1)  # (O, W) each
  row_cost = jnp.where(jnp.any(variant_valid, axis=0)[None], row_cost, 0.0)
  per_entry, best_role = _first_min(_entry_totals(row_cost, c), axis=0)  # (E,) each
  _, best_entry = _first_min(jnp.where(_sample_membership(c), per_entry[None, :], FAR))  # (N,)
  variants = jnp.asarray(c.entry_variants)[:, best_entry]  # (R, N)
  role = best_role[best_entry][None, :]  # (1, N)
  has_row = variants >= 0
  variants = jnp.where(has_row, variants, 0)
  chosen = variant_pairs[role, row_combo[role, variants], variants]  # (R, N)
  per_sample = jnp.sum(jnp.where(has_row, distances[chosen], 0.0), axis=0)
  return jnp.where(jnp.asarray(c.sample_valid), per_sample, 0.0)


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
  if temperature is None:
    return _exact_sample_losses(distances, constraints)
  c = constraints
  variant_valid = jnp.asarray(c.variant_valid)  # (C, W)
  cost = distances[jnp.asarray(c.variant_pairs)]  # (O, C, W)
  row_cost = _masked_min(cost, jnp.broadcast_to(variant_valid[None], cost.shape), temperature,
                         axis=1)
  row_cost = jnp.where(jnp.any(variant_valid, axis=0)[None], row_cost, 0.0)  # (O, W)
  totals = _entry_totals(row_cost, c)  # (O, E)
  per_entry = _masked_min(totals, jnp.ones(totals.shape, bool), temperature, axis=0)  # (E,)
  belongs = _sample_membership(c)
  per_sample = _masked_min(jnp.broadcast_to(per_entry[None, :], belongs.shape), belongs,
                           temperature)
  # An empty sample's entry costs 0 under both roles, and the soft minimum of two zeros is
  # -t log 2, not 0.
  return jnp.where(jnp.asarray(c.sample_valid) & jnp.asarray(c.sample_nonempty), per_sample, 0.0)


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
    closest: jax.Array | None = None,
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
    closest: None (exact: search now) or (P, 2) int32 from ``closest_pairs`` on the points of
      an earlier step; every region distance is then that of the previously closest slots, an
      upper bound of the exact one. An approximation: measure its effect.

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
    raise InvalidInputError(
        f"valid must have shape {np.shape(points_a)[:2]}, got {np.shape(valid)}")
  if constraints.batch_shape:
    raise InvalidInputError(
        f"contact_loss takes the constraints of one image, got a stack {constraints.batch_shape}; "
        f"use jax.vmap over the stack")
  distances = region_pair_distances(points_a, points_b, jnp.asarray(valid, bool), constraints,
                                    closest)
  return contact_loss_from_distances(distances, constraints, temperature=temperature,
                                     count_empty=count_empty)


@flax.struct.dataclass
class ContactSurrogate:
  """The contact loss linearised in the region distances at one configuration (see the module).

  Unbatched: one image; batch with ``jax.vmap``.
  """

  closest: jax.Array
  """(P, 2) int32 subsample slots of each region pair's closest vertex pair (``closest_pairs``)."""
  weights: jax.Array
  """(P,) the loss's derivative in each region distance (unitless, >= 0; 0 for unused pairs)."""
  offset: jax.Array
  """() metres: loss minus ``weights . distances`` where the surrogate was made (0 for exact
  minima)."""


def contact_surrogate(
    points_a: jax.Array,
    points_b: jax.Array | None,
    valid: jax.Array,
    constraints: Constraints,
    *,
    temperature=None,
    count_empty: bool = True,
) -> ContactSurrogate:
  """Makes the gradient-free choices of the contact loss once, for reuse over several steps.

  The closest vertex pair of every region pair, then the loss's slope in each region distance:
  with exact minima, the number of times each pair is chosen (best role, assignment and
  alternative per sample) over N; with a soft-min temperature, the soft weights. No gradient flows
  through the result.

  Args:
    points_a, points_b, valid, constraints, temperature, count_empty: as ``contact_loss``.

  Returns:
    A ``ContactSurrogate`` such that ``surrogate_contact_loss`` at these same points equals
    ``contact_loss`` (up to rounding).
  """
  if points_b is None:
    points_b = points_a
  points_a, points_b = jax.lax.stop_gradient(points_a), jax.lax.stop_gradient(points_b)
  valid = jnp.asarray(valid, bool)
  closest = closest_pairs(points_a, points_b, valid, constraints)
  distances = region_pair_distances(points_a, points_b, valid, constraints, closest)
  loss, weights = jax.value_and_grad(
      lambda d: contact_loss_from_distances(d, constraints, temperature=temperature,
                                            count_empty=count_empty))(distances)
  # Masked pairs hold FAR; their weight is 0, and 0 * FAR must not leak into the offset.
  used = jnp.where(weights != 0, distances, 0.0)
  return ContactSurrogate(closest=closest, weights=weights, offset=loss - jnp.dot(weights, used))


def surrogate_contact_loss(
    points_a: jax.Array,
    points_b: jax.Array | None,
    valid: jax.Array,
    constraints: Constraints,
    surrogate: ContactSurrogate,
) -> jax.Array:
  """The contact loss linearised where ``surrogate`` was made, at new points: P distances.

  ``offset + sum_p weights[p] * |a - b|`` over the remembered closest slot pair of each region
  pair. Equal to ``contact_loss`` at the points the surrogate was made from, never below it
  elsewhere (module docstring), and with the same gradient there (away from ties).

  Args:
    points_a, points_b, valid, constraints: as ``contact_loss`` (points may have moved).
    surrogate: from ``contact_surrogate`` on earlier points of the same image.

  Returns:
    () metres.
  """
  if points_b is None:
    points_b = points_a
  distances = region_pair_distances(points_a, points_b, jnp.asarray(valid, bool), constraints,
                                    jax.lax.stop_gradient(surrogate.closest))
  weights = jax.lax.stop_gradient(surrogate.weights)
  used = jnp.where(weights != 0, distances, 0.0)
  return jax.lax.stop_gradient(surrogate.offset) + jnp.dot(weights, used)
