"""Contact constraints as arrays: the language model's N sampled answers for one image (or a stack).

An answer is a list of rows; a row pairs two cells; a cell names one body part or several
alternatives. ``Constraints.from_pairs`` turns the answers into padded integer tables so that the
contact loss (``posejax.losses.contact``) evaluates every sample, person-role swap and left/right
assignment with gathers and masked reductions, exactly and deterministically.

How the answers are read, and how the tables are built from them: ``posejax.constraint_tables``.

Array layout (unbatched; ``Constraints.stack`` adds a leading image axis to every field):
  N samples, E entries (one per valid left/right assignment of a sample, every real sample having
  at least one), O person roles (2 for two people, 1 for one), R rows, W row variants, C
  combinations of one alternative per cell, P distinct region pairs, M names per cell.

A row variant is a row with the choices of its cells fixed; its cost, the minimum over its C
combinations, is taken once per distinct variant (an O x C x W table, as the N samples repeat the
same few rows) and each entry sums the variants its rows take (an R x E gather). Entries rather
than a (sample, assignment) grid, because assignment counts are very uneven (one sample with 64,
the others 1 or 2) and a padded grid would be mostly padding. The short axes the loss reduces over
come before the long ones, so that XLA on CPU reduces whole planes (2x faster).
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any, Iterable, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from posejax import constraint_tables
from posejax.constraint_tables import DEFAULT_MAX_SIDE_VARIABLES
from posejax.constraint_tables import NAMES
from posejax.errors import ConstraintError
from posejax.errors import FileFormatError
from posejax.io_utils import check_format_header

FORMAT = "posejax.constraints"
JSON_VERSION = 1
"""Version of ``to_json``'s text: the answers themselves, rebuilt on reading."""

# For each field: the name of each axis after the image axes (None: never padded) and the fill.
_FIELD_AXES: dict[str, tuple[tuple[str | None, ...], Any]] = {
    "pair_regions": (("pairs", None), 0),
    "pair_valid": (("pairs",), False),
    "variant_pairs": ((None, "combinations", "variants"), 0),
    "variant_valid": (("combinations", "variants"), False),
    "entry_variants": (("rows", "entries"), -1),
    "entry_sample": (("entries",), 0),
    "entry_valid": (("entries",), False),
    "row_valid": (("samples", "rows"), False),
    "row_count": (("samples", "rows"), 0),
    "row_names": (("samples", "rows", None, "alternatives"), -1),
    "sample_valid": (("samples",), False),
    "sample_nonempty": (("samples",), False),
    "ground_rows": (("samples",), 0),
    "min_frequency": ((), 0),
}


@flax.struct.dataclass
class Constraints:
  """The N sampled answers of one image (or a stack of images) as padded arrays.

  Build with ``Constraints.from_pairs``; every field gains leading image axes after
  ``Constraints.stack``. Padding entries are masked out by the ``*_valid`` fields; padding indices
  point at entry 0 so that gathers stay in range.
  """

  pair_regions: np.ndarray
  """(P, 2) int32: region indices (``vocabulary.RESOLVED_REGIONS`` order) on body 0 and body 1 of
  each distinct region pair a sample names; for one person both are on the same body."""
  pair_valid: np.ndarray
  """(P,) bool: real pairs (False for padding)."""
  variant_pairs: np.ndarray
  """(O, C, W) int32: for each person role, combination and row variant (a row with its sides
  fixed; equal variants of different rows and samples are stored once), the index into the
  pair-distance vector it costs."""
  variant_valid: np.ndarray
  """(C, W) bool: real combinations of one alternative per cell of each row variant (one person:
  also not the same region twice). A variant with none (padding) costs nothing."""
  entry_variants: np.ndarray
  """(R, E) int32: the row variant each row of each entry (a sample under one valid left/right
  assignment) takes; -1 where the row is padding or does not enter the loss."""
  entry_sample: np.ndarray
  """(E,) int32: the sample each entry belongs to."""
  entry_valid: np.ndarray
  """(E,) bool: real entries (False for padding)."""
  row_valid: np.ndarray
  """(N, R) bool: rows that enter the loss (real rows; one person: frequent enough and with at
  least one combination of two different regions)."""
  row_count: np.ndarray
  """(N, R) int32: in how many samples of the image the row's side-free, unordered pair occurs
  (the frequency filter's count; informative only for two people)."""
  row_names: np.ndarray
  """(N, R, 2, M) int32: the source rows as codes into ``NAMES`` (-1 pads), ground rows excluded."""
  sample_valid: np.ndarray
  """(N,) bool: real samples (False for samples added to stack images with different N)."""
  sample_nonempty: np.ndarray
  """(N,) bool: samples with at least one row after ground rows were dropped."""
  ground_rows: np.ndarray
  """(N,) int32: rows naming the ground that were dropped from each sample."""
  min_frequency: np.ndarray
  """() int32: the frequency-filter threshold the rows were filtered with (0 for two people)."""
  people: int = flax.struct.field(pytree_node=False, default=2)
  """1 (self-contact) or 2 (contact between two people)."""

  # ----------------------------------------------------------------------------------------------
  # Construction

  @classmethod
  def from_pairs(
      cls,
      samples: Sequence[Sequence[Sequence[str | Sequence[str]]]],
      people: int,
      *,
      min_frequency: int | None = None,
      max_side_variables: int = DEFAULT_MAX_SIDE_VARIABLES,
  ) -> Constraints:
    """Builds the constraints of one image from its N parsed answers.

    Args:
      samples: one entry per sampled answer, empty answers included as ``[]``; each entry a list of
        rows ``(cell_1, cell_2)``. A cell is a name or a tuple of alternative names. For two people
        ``cell_1`` is Person 1's part and ``cell_2`` Person 2's.
      people: 1 or 2.
      min_frequency: one person only: keep a row when its pair (unordered, sides removed, each
        cell the set of its alternatives: "left hand | foot" and "hand | foot" count together)
        occurs in at least this many samples. Default: half the samples, rounded up (10 of 20).
      max_side_variables: two people: a sample may have at most 2 to this power valid left/right
        assignments (``constraint_tables.assignment_count``); more raise ``ConstraintError``.

    Returns:
      Unbatched ``Constraints``, padded to power-of-two sizes.

    Raises:
      ConstraintError: unknown names, malformed rows, "ground" for two people, too many side
        variables or combinations, a bad ``people`` or ``min_frequency``.
    """
    return cls(people=people, **constraint_tables.build_tables(
        samples, people, min_frequency, max_side_variables))

  # ----------------------------------------------------------------------------------------------
  # Shapes, padding, stacking

  @property
  def batch_shape(self) -> tuple[int, ...]:
    """The leading image axes: ``()`` for one image, ``(B,)`` after ``stack``."""
    return tuple(np.shape(self.pair_valid)[:-1])

  def __repr__(self) -> str:
    """A summary: people, batch, answers, rows and the most common pairs (no index arrays)."""
    if not isinstance(self.sample_valid, np.ndarray) or self.batch_shape:
      return (f"Constraints(people={self.people}, batch_shape={self.batch_shape}, "
              f"padded sizes {self.sizes()})")
    samples = self.to_pairs()
    pairs = collections.Counter(
        " | ".join(c if isinstance(c, str) else "/".join(c) for c in row)
        for rows in samples for row in rows)
    common = ", ".join(f"{pair} x{count}" for pair, count in pairs.most_common(4))
    more = f", ... ({len(pairs)} distinct)" if len(pairs) > 4 else ""
    empty = sum(not rows for rows in samples)
    return (f"Constraints(people={self.people}, {len(samples)} answers ({empty} empty), "
            f"{sum(map(len, samples))} rows: {common or 'none'}{more})")

  def sizes(self) -> dict[str, int]:
    """The padded sizes: samples, entries, rows, variants, combinations, pairs, alternatives."""
    rows, entries = np.shape(self.entry_variants)[-2:]
    combinations, variants = np.shape(self.variant_valid)[-2:]
    return {"samples": np.shape(self.sample_valid)[-1], "entries": entries, "rows": rows,
            "variants": variants, "combinations": combinations,
            "pairs": np.shape(self.pair_valid)[-1], "alternatives": np.shape(self.row_names)[-1]}

  def assignments_per_sample(self) -> np.ndarray:
    """(..., N) int: how many valid left/right assignments each sample has (host-side, numpy)."""
    entry_sample = np.asarray(self.entry_sample)
    entry_valid = np.asarray(self.entry_valid)
    n = np.shape(self.sample_valid)[-1]
    one_hot = (entry_sample[..., None] == np.arange(n)) & entry_valid[..., None]
    return one_hot.sum(axis=-2)

  def pad(self, **sizes: int) -> Constraints:
    """Pads to at least the given sizes (keys as in ``sizes()``); never shrinks. Added samples are
    not real (``sample_valid`` False): they cost nothing and do not count in the mean."""
    unknown = set(sizes) - set(self.sizes())
    if unknown:
      raise ConstraintError(f"unknown padding sizes {sorted(unknown)}; use {sorted(self.sizes())}")
    current = self.sizes()
    target = {k: max(v, int(sizes.get(k, v))) for k, v in current.items()}
    if target == current:
      return self
    b = len(self.batch_shape)
    fields = {}
    for name, (axes, fill) in _FIELD_AXES.items():
      value = np.asarray(getattr(self, name))
      widths = [(0, 0)] * b + [
          (0, 0) if axis is None else (0, target[axis] - value.shape[b + k])
          for k, axis in enumerate(axes)]
      if any(after for _, after in widths):
        value = np.pad(value, widths, constant_values=fill)
      fields[name] = value
    return self.replace(**fields)

  @staticmethod
  def largest_sizes(items: Iterable[Constraints | None]) -> dict[str, int]:
    """The largest padded sizes (``sizes()`` keys) over constraints, None items skipped (empty
    without items): stacking every batch to them keeps one compiled fit for a whole dataset."""
    largest: dict[str, int] = {}
    for item in items:
      if item is None:
        continue
      for key, value in item.sizes().items():
        largest[key] = max(largest.get(key, 0), int(value))
    return largest

  @classmethod
  def stack(cls, items: Sequence[Constraints], **sizes: int) -> Constraints:
    """Stacks unbatched constraints of several images along a new leading axis, for ``jax.vmap``.

    Every item is padded to the common (largest) sizes, or to ``sizes`` where larger.

    Raises:
      ConstraintError: no items, batched items, or items with different ``people``.
    """
    items = list(items)
    if not items:
      raise ConstraintError("stack needs at least one Constraints")
    if any(c.batch_shape for c in items):
      raise ConstraintError("stack takes unbatched Constraints (one image each)")
    people = {c.people for c in items}
    if len(people) != 1:
      raise ConstraintError(f"cannot stack one-person and two-person constraints: people={people}")
    target = {k: max(v, int(sizes.get(k, 0))) for k, v in cls.largest_sizes(items).items()}
    padded = [c.pad(**target) for c in items]
    fields = {name: np.stack([np.asarray(getattr(c, name)) for c in padded])
              for name in _FIELD_AXES}
    return cls(people=items[0].people, **fields)

  # ----------------------------------------------------------------------------------------------
  # Reading back

  def to_pairs(self) -> list[list[tuple[str | tuple[str, ...], str | tuple[str, ...]]]]:
    """The source rows of the real samples (ground rows excluded), as ``from_pairs`` takes them."""
    if self.batch_shape:
      raise ConstraintError("to_pairs reads one image; index a stacked Constraints first")
    names = np.asarray(self.row_names)
    samples = []
    for i in np.flatnonzero(np.asarray(self.sample_valid)):
      rows = []
      for row in names[i]:
        cells = [tuple(NAMES[c] for c in cell if c >= 0) for cell in row]
        if cells[0]:
          rows.append(tuple(cell[0] if len(cell) == 1 else cell for cell in cells))
      samples.append(rows)
    return samples

  # ----------------------------------------------------------------------------------------------
  # Files

  def to_json(self) -> str:
    """A readable JSON text of one image's answers (names, options, padding) for ``from_json``."""
    if self.batch_shape:
      raise ConstraintError("to_json writes one image; save a stack with save_npz")
    valid = np.asarray(self.sample_valid)
    return json.dumps({
        "format": FORMAT,
        "version": JSON_VERSION,
        "people": self.people,
        "min_frequency": int(self.min_frequency),
        "samples": json_rows(self.to_pairs()),
        "ground_rows": [int(g) for g in np.asarray(self.ground_rows)[valid]],
        "padding": self.sizes(),
    }, indent=1)

  @classmethod
  def from_json(cls, text: str, *, max_side_variables: int = DEFAULT_MAX_SIDE_VARIABLES,
                path: str | os.PathLike | None = None) -> Constraints:
    """Rebuilds constraints written by ``to_json``.

    Args:
      text: the JSON text.
      max_side_variables: as in ``from_pairs``; pass the value the constraints were built with.
      path: where the text came from, named in errors.

    Raises:
      FileFormatError: not a posejax constraints JSON, or malformed.
    """
    try:
      data = json.loads(text)
    except (ValueError, RecursionError) as e:
      raise FileFormatError(path, f"not valid JSON ({type(e).__name__}: {str(e)[:200]})") from None
    check_format_header(path, data, FORMAT, JSON_VERSION, "a posejax constraints JSON file")
    try:
      samples = [[tuple(c if isinstance(c, str) else tuple(c) for c in row) for row in sample]
                 for sample in data["samples"]]
      ground = np.asarray(data["ground_rows"], dtype=np.int32)
      people = int(data["people"])
      cons = cls.from_pairs(samples, people,
                            min_frequency=int(data["min_frequency"]) if people == 1 else None,
                            max_side_variables=max_side_variables)
      if ground.shape != (len(samples),):
        raise FileFormatError(path, "'ground_rows' must hold one count per sample")
      padded_ground = np.zeros_like(np.asarray(cons.ground_rows))
      padded_ground[:len(samples)] = ground
      cons = cons.replace(ground_rows=padded_ground)
      return cons.pad(**{k: int(v) for k, v in data.get("padding", {}).items()})
    except (KeyError, TypeError, ValueError, OverflowError) as e:
      if isinstance(e, FileFormatError):
        raise
      raise FileFormatError(path, f"malformed constraints JSON: {e}") from e


def needs_fallback(constraints: Constraints, min_empty: int | None = None):
  """Whether an image should keep its baseline fit instead of the contact-driven one.

  The published rule: every sample is empty, or (``min_empty`` given; CHI3D uses 2) at least
  ``min_empty`` are. An empty sample has no row that constrains anything (ground rows dropped;
  one person: none passing the frequency filter).

  Args:
    constraints: one image, or a stack.
    min_empty: optional threshold on the number of empty samples.

  Returns:
    A bool array of the batch shape (a scalar for one image): numpy for concrete inputs, traced
    inside ``jit``.
  """
  valid, nonempty = constraints.sample_valid, constraints.sample_nonempty
  # Host values stay on the host: eager device ops would each compile a program.
  xp = jnp if isinstance(valid, jax.core.Tracer) else np
  valid, nonempty = xp.asarray(valid), xp.asarray(nonempty)
  empty = xp.sum(valid & ~nonempty, axis=-1)
  result = empty == xp.sum(valid, axis=-1)
  if min_empty is not None:
    result = result | (empty >= min_empty)
  return result


def json_rows(samples: Sequence[Sequence[Sequence[str | Sequence[str]]]]) -> list:
  """Per-sample rows (as ``from_pairs`` takes them) with every tuple of alternatives a list."""
  return [[[cell if isinstance(cell, str) else list(cell) for cell in row] for row in rows]
          for rows in samples]
