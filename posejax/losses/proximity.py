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


def safe_sqrt(squared: jax.Array) -> jax.Array:
  """Elementwise square root of squared lengths where positive, else 0 (negative values too),
  with a zero (not NaN) gradient at 0.

  ``sqrt`` has an infinite slope at 0, and touching points are common (coincident vertices, a
  point on a triangle corner); the inner ``where`` keeps that slope out of the backward pass.
  """
  positive = squared > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def check_points(name: str, points: jax.Array) -> None:
  """Raises ``InvalidInputError`` naming ``name`` unless ``points`` is a non-empty (N, 3) set."""
  if points.ndim != 2 or points.shape[-1] != 3 or points.shape[0] == 0:
    raise InvalidInputError(f"{name} has shape {points.shape}; expected a non-empty (N, 3) set of "
                            "points in metres (vmap for batches).")


def _squared_distance_planes(points: jax.Array, others: jax.Array,
                             others_valid: jax.Array) -> jax.Array:
  """(C, M) exact squared distances, ``inf`` to invalid candidates.

  Coordinate by coordinate on (C, M) planes: on CPU, XLA runs this faster than a matrix product
  with an inner dimension of 3, and without the cancellation of ``|p|^2 - 2 p.o + |o|^2``.
  """
  planes = [points[:, i:i + 1] - others[None, :, i] for i in range(3)]
  squared = planes[0] * planes[0] + planes[1] * planes[1] + planes[2] * planes[2]
  return jnp.where(others_valid[None, :], squared, jnp.inf)


def _usable_points(name: str, points: jax.Array, valid_name: str,
                   valid: jax.Array | None) -> tuple[jax.Array, jax.Array]:
  """Points for the search: (N, 3) without gradient, unusable rows zeroed, and (N,) usability.

  A row is usable when it is finite and, if ``valid`` is given, marked valid there.
  """
  check_points(name, points)
  usable = jnp.all(jnp.isfinite(points), axis=-1)
  if valid is not None:
    if valid.shape != points.shape[:1]:
      raise InvalidInputError(f"{valid_name} has shape {valid.shape}; expected "
                              f"({points.shape[0]},).")
    usable = usable & valid
  return jax.lax.stop_gradient(jnp.where(usable[:, None], points, 0.0)), usable


def map_chunks(fn, points: jax.Array, chunk_size: int | None):
  """``fn`` on (C, 3) chunks of the points (``lax.map``), outputs concatenated over points."""
  n = points.shape[0]
  if chunk_size is None or chunk_size >= n:
    return fn(points)
  chunk_size = max(1, int(chunk_size))
  num_chunks = -(-n // chunk_size)
  padded = jnp.pad(points, ((0, num_chunks * chunk_size - n), (0, 0)))
  out = jax.lax.map(fn, padded.reshape(num_chunks, chunk_size, 3))
  return jax.tree.map(lambda x: x.reshape((num_chunks * chunk_size,) + x.shape[2:])[:n], out)


def nearest_ids(
    points: jax.Array,
    others: jax.Array,
    *,
    others_valid: jax.Array | None = None,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> tuple[jax.Array, jax.Array]:
  """For each point, the index of the nearest of ``others`` (no gradient flows through the search).

  Args:
    points: (N, 3) query points, metres.
    others: (M, 3) candidate points, metres.
    others_valid: optional (M,) bool; invalid candidates (padding) are never chosen.
      Non-finite candidates are always skipped.
    chunk_size: query points per chunk; memory is about ``chunk_size * M`` floats (``None``: all).

  Returns:
    ``(ids, squared_distances)``: (N,) int32 indices into ``others`` and (N,) the squared distances
    in m^2 (no gradient; recompute from the gathered pair for one). Where no candidate is valid,
    the id is 0 and the distance ``inf``.
  """
  check_points("points", points)
  others, valid = _usable_points("others", others, "others_valid", others_valid)

  def search(chunk):
    squared = _squared_distance_planes(chunk, others, valid)
    ids = jnp.argmin(squared, axis=-1).astype(jnp.int32)
    return ids, jnp.take_along_axis(squared, ids[:, None], axis=-1)[:, 0]

  return map_chunks(search, jax.lax.stop_gradient(points), chunk_size)


def min_squared_distance(
    vertices_a: jax.Array,
    vertices_b: jax.Array,
    *,
    valid_a: jax.Array | None = None,
    valid_b: jax.Array | None = None,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> jax.Array:
  """The heuristic baseline's term: minimum squared distance between two vertex sets.

  ``min_{i,j} ||a_i - b_j||^2`` over whole meshes (or any given vertex subsets), pulling the
  closest points together. Non-finite vertices and those masked out are ignored. The closest pair
  is found without gradient (row minima in chunks, a plain reduction cheaper than an argmin over
  every row, then the argmin of the one winning row) and the value recomputed on it for the
  gradient. The search runs at every call: the single closest pair of two meshes jumps as they
  move, and a remembered one cost the heuristic baseline 7 mm of joint error on the synthetic
  benchmark.

  Args:
    vertices_a, vertices_b: (N, 3) vertices of body A and (M, 3) of body B, metres.
    valid_a, valid_b: optional (N,) and (M,) bool masks of their usable vertices.
    chunk_size: vertices of A per chunk of the search (memory ~ chunk x M floats).

  Returns:
    () squared distance in m^2 (not weighted; 1e4 in the reference). 0 with zero gradient when no
    valid pair exists.
  """
  frozen_a, usable_a = _usable_points("vertices_a", vertices_a, "valid_a", valid_a)
  others, valid_others = _usable_points("vertices_b", vertices_b, "valid_b", valid_b)
  row_minima = map_chunks(
      lambda chunk: jnp.min(_squared_distance_planes(chunk, others, valid_others), axis=-1),
      frozen_a, chunk_size)
  row_minima = jnp.where(usable_a, row_minima, jnp.inf)
  closest_a = jnp.argmin(row_minima)
  closest_b = jnp.argmin(_squared_distance_planes(frozen_a[closest_a][None], others,
                                                  valid_others)[0])
  found = jax.lax.stop_gradient(jnp.isfinite(row_minima[closest_a]))
  a = jnp.where(found, vertices_a[jax.lax.stop_gradient(closest_a)], 0.0)
  b = jnp.where(found, vertices_b[jax.lax.stop_gradient(closest_b)], 0.0)
  difference = a - b
  return jnp.sum(difference * difference)
