"""Nearest points between two vertex sets, and the heuristic baseline's proximity term.

The heuristic baseline (no language model) pulls the two people together with the minimum squared
distance between their whole meshes. Both that term and the interpenetration penalty need, for
points of one set, the nearest point of another set: :func:`nearest_ids` finds it in chunks (bounded
memory, no gradient) and the distance is then recomputed on the gathered pair, so that the gradient
is exactly that of the minimum (the gradient of a min is the gradient of its minimiser) and the
backward pass stores nothing of the search.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from posejax.errors import InvalidInputError

DEFAULT_CHUNK_SIZE = 256
"""Query points per chunk of the nearest-point search (memory ~ chunk x others floats)."""


def _check_points(name: str, points: jax.Array) -> None:
  if points.ndim != 2 or points.shape[-1] != 3 or points.shape[0] == 0:
    raise InvalidInputError(f"{name} has shape {points.shape}; expected a non-empty (N, 3) set of "
                            "points in metres (vmap for batches).")


def nearest_ids(
    points: jax.Array,
    others: jax.Array,
    *,
    others_valid: jax.Array | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[jax.Array, jax.Array]:
  """For each point, the index of the nearest of ``others`` (no gradient flows through the search).

  Distances are compared as ``|p|^2 - 2 p.o + |o|^2`` (a matrix product per chunk); when two
  candidates are within rounding of each other (about 1e-7 m^2 in float32) either may be returned,
  which changes the distance by no more than that.

  Args:
    points: (N, 3) query points, metres.
    others: (M, 3) candidate points, metres.
    others_valid: optional (M,) bool; invalid candidates (padding, NaN) are never chosen.
      Non-finite candidates are always skipped.
    chunk_size: query points per chunk; memory is about ``chunk_size * M`` floats.

  Returns:
    ``(ids, squared_distances)``: (N,) int32 indices into ``others`` and (N,) their squared
    distances in m^2 from the fast formula (no gradient; recompute from the gathered pair for one).
    Where no candidate is valid, the id is 0 and the distance ``inf``.
  """
  _check_points("points", points)
  _check_points("others", others)
  points = jax.lax.stop_gradient(points)
  others = jax.lax.stop_gradient(others)
  valid = jnp.all(jnp.isfinite(others), axis=-1)
  if others_valid is not None:
    if others_valid.shape != others.shape[:1]:
      raise InvalidInputError(f"others_valid has shape {others_valid.shape}; expected "
                              f"({others.shape[0]},).")
    valid = valid & others_valid
  others = jnp.where(valid[:, None], others, 0.0)
  others_sq = jnp.where(valid, jnp.sum(others * others, axis=-1), jnp.inf)

  # Written for one point; lax.map vmaps it over a chunk, which turns it into a matrix product.
  def search(point):
    sq = jnp.sum(point * point) - 2.0 * (others @ point) + others_sq
    best = jnp.argmin(sq).astype(jnp.int32)
    return best, jnp.maximum(sq[best], 0.0)

  chunk_size = max(1, min(int(chunk_size), points.shape[0]))
  return jax.lax.map(search, points, batch_size=chunk_size)


def squared_distances_to_nearest(
    points: jax.Array,
    others: jax.Array,
    *,
    others_valid: jax.Array | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> jax.Array:
  """Squared distance from each point to the nearest of ``others``, differentiable.

  Args:
    points: (N, 3) query points, metres.
    others: (M, 3) candidate points, metres.
    others_valid: optional (M,) bool mask of usable candidates.
    chunk_size: query points per chunk of the search.

  Returns:
    (N,) squared distances in m^2, exact (``sum (p - o*)^2`` on the nearest pair), gradients with
    respect to both sets; finite for coincident points (no square root is taken).
  """
  ids, _ = nearest_ids(points, others, others_valid=others_valid, chunk_size=chunk_size)
  difference = points - others[ids]
  return jnp.sum(difference * difference, axis=-1)


def min_squared_distance(
    vertices_a: jax.Array,
    vertices_b: jax.Array,
    *,
    valid_a: jax.Array | None = None,
    valid_b: jax.Array | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> jax.Array:
  """The heuristic baseline's term: minimum squared distance between two vertex sets.

  ``min_{i,j} ||a_i - b_j||^2`` over whole meshes (or any given vertex subsets), pulling the
  closest points together. Non-finite vertices and those masked out are ignored.

  Args:
    vertices_a: (N, 3) vertices of body A, metres.
    vertices_b: (M, 3) vertices of body B, metres.
    valid_a: optional (N,) bool mask of usable vertices of A.
    valid_b: optional (M,) bool mask of usable vertices of B.
    chunk_size: vertices of A per chunk of the search (memory ~ chunk x M floats).

  Returns:
    () squared distance in m^2 (not weighted; 1e4 in the reference). 0 with zero gradient when no
    valid pair exists.
  """
  _check_points("vertices_a", vertices_a)
  _check_points("vertices_b", vertices_b)
  ids, fast = nearest_ids(vertices_a, vertices_b, others_valid=valid_b, chunk_size=chunk_size)
  usable_a = jnp.all(jnp.isfinite(vertices_a), axis=-1)
  if valid_a is not None:
    if valid_a.shape != vertices_a.shape[:1]:
      raise InvalidInputError(f"valid_a has shape {valid_a.shape}; expected "
                              f"({vertices_a.shape[0]},).")
    usable_a = usable_a & valid_a
  fast = jnp.where(usable_a, fast, jnp.inf)
  closest = jnp.argmin(fast)
  found = jnp.isfinite(fast[closest])
  a = jnp.where(found, vertices_a[closest], 0.0)
  b = jnp.where(found, vertices_b[ids[closest]], 0.0)
  difference = a - b
  return jnp.sum(difference * difference)
