"""How parsed answers become the padded integer tables of ``posejax.constraints.Constraints``.

``build_tables`` checks the names of N sampled answers, enumerates every valid left/right
assignment of each sample, and writes the rows, row variants, entries and region pairs that the
contact loss gathers from (the layout is described in ``posejax.constraints``).

How the answers are read (METHOD.md, "Parsing and aggregation"):

* Names are resolved regions (``"left hand"``, ``"back"``), side-free lateral parts (``"hand"``),
  or ``"ground"`` (one person only). Case and repeated spaces are ignored.
* Alternatives in one cell are an OR: the row costs the smallest distance over them (the
  reference implementation reads them as AND; posejax deliberately differs).
* Two people (the published rule): every cell takes one of its alternatives, and every side-free
  lateral part it takes gets a side; a choice is invalid when a lateral part taken side-free two
  or more times in one column does not use both sides ("hand" named twice for Person 1 means both
  hands). An alternative not taken does not count. Parts with an explicit side (trusted written
  sides, or a plural the parser expanded) keep it and count like any other: "left hand" and a
  side-free "hand" in one column make the latter the right hand; only occurrences that are all
  written are left as written. The sample costs the minimum over valid choices of the sum over
  rows, then the minimum over the two ways to map Person 1 / Person 2 onto the bodies.
* One person: the side of every lateral occurrence is chosen per row (no rule across rows); a
  combination whose two cells resolve to the same region is excluded ("hand | hand" means left hand
  against right hand) and a row with no other combination is dropped. The frequency filter keeps a
  row only when its pair occurs in at least ``min_frequency`` of the N samples (see ``from_pairs``).
  Rows naming the ground are dropped and counted in ``ground_rows``, as the reference does: the
  ground plane is not known in camera coordinates, so posejax does not guess one.

Exact reduction of the enumeration: a lateral part its column names only once, or only with
written sides, is never constrained by the rule, so its side joins its cell's alternatives and is
minimised inside the row. Only the constrained occurrences (named two or more times in their
column, once at least side-free) are enumerated: an assignment fixes, for every cell holding one,
which constrained name it takes and on which side, or that it takes one of its other names. The
rule links only the cells of one (column, part) group, or of groups sharing a cell ("hand / arm"
with both repeated), so the valid assignments are the product over such components of their valid
choices (2^g - 2 for a group of g side-free cells without alternatives), never the 2^S of all
side patterns. ``assignment_count`` counts them without enumerating; past 2^max_side_variables
the sample is refused with a clear error.
"""

from __future__ import annotations

import collections
import functools
import itertools
import math
from typing import Any, NamedTuple, Sequence

import numpy as np

from posejax.body import vocabulary
from posejax.errors import ConstraintError

NUM_REGIONS = len(vocabulary.RESOLVED_REGIONS)

NAMES: tuple[str, ...] = vocabulary.RESOLVED_REGIONS + vocabulary.LATERAL_PARTS
"""Codes of ``Constraints.row_names``: the 23 resolved regions, then the side-free lateral parts."""

NAME_CODE: dict[str, int] = {name: i for i, name in enumerate(NAMES)}

DEFAULT_MAX_SIDE_VARIABLES = 10
"""At most 2^10 = 1024 valid left/right assignments per sample (see ``assignment_count``)."""

MAX_COMBINATIONS = 1024
"""At most this many (alternative, side) combinations in one row."""

# Minimum padded sizes; every padded size is a power of two at or above these, so that images with
# similar answers share shapes and compiled code. The axes that set the contact loss's cost also
# take three quarters of a power of two from 6 up (44 region pairs pad to 48, not 64).
_MIN_BUCKET = {"entries": 1, "rows": 4, "variants": 1, "combinations": 1, "pairs": 8,
               "alternatives": 1}
_FINE_BUCKETS = ("entries", "rows", "variants", "pairs")


def build_tables(samples: Any, people: int, min_frequency: int | None,
                 max_side_variables: int) -> dict[str, np.ndarray]:
  """The fields of ``Constraints`` (all but ``people``) for one image's N parsed answers.

  Arguments, errors and the meaning of each array as in ``Constraints.from_pairs``.
  """
  if people not in (1, 2):
    raise ConstraintError(f"people must be 1 or 2, got {people!r}")
  if not _is_sequence(samples):
    raise ConstraintError(
        f"samples must be a list of answers (each a list of (cell_1, cell_2) rows), got "
        f"{type(samples).__name__}")
  parsed, ground_rows = [], []
  for i, sample in enumerate(samples):
    rows, dropped = _parse_sample(sample, i, people)
    parsed.append(rows)
    ground_rows.append(dropped)
  n = len(parsed)
  if people == 1:
    if min_frequency is None:
      min_frequency = math.ceil(n / 2)
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, (int, np.integer)) \
        or min_frequency < 0:
      raise ConstraintError(
          f"min_frequency must be a non-negative integer, got {min_frequency!r}")
  else:
    min_frequency = 0

  counts = collections.Counter()  # in how many samples each row key occurs
  for rows in parsed:
    counts.update({_row_key(row) for row in rows})
  compiled = [_compile_once(rows, i, people, max_side_variables) for i, rows in enumerate(parsed)]
  if people == 2:
    rows_valid = [[True] * len(rows) for rows in parsed]
  else:  # a row needs two different regions and enough samples naming its pair
    rows_valid = [[len(table[0]) > 0 and counts[_row_key(row)] >= min_frequency
                   for row, table in zip(rows, c.tables)] for rows, c in zip(parsed, compiled)]
  return _assemble(parsed, compiled, rows_valid, counts, ground_rows, people, int(min_frequency))


# --------------------------------------------------------------------------------------------------
# Parsing names


_ACCEPTED = set(NAMES) | {vocabulary.GROUND}
_LATERAL = frozenset(vocabulary.LATERAL_PARTS)


def _parse_cell(cell: Any, sample: int, row: int) -> tuple[str, ...]:
  where = f"sample {sample}, row {row}"
  if isinstance(cell, str):
    names = [cell]
  elif isinstance(cell, (tuple, list)) and all(isinstance(c, str) for c in cell):
    names = list(cell)
  else:
    raise ConstraintError(f"{where}: a cell must be a name or a tuple of names, got {cell!r}")
  if not names:
    raise ConstraintError(f"{where}: empty cell; drop the row or name a body part")
  result = []
  for raw in names:
    name = " ".join(raw.lower().split())
    if name not in _ACCEPTED:
      raise ConstraintError(
          f"{where}: unknown body part {raw!r}; use a region of "
          f"posejax.body.vocabulary.RESOLVED_REGIONS, a side-free part of LATERAL_PARTS, "
          f"or 'ground' (one person)")
    if name not in result:
      result.append(name)
  return tuple(result)


def _is_sequence(value: Any) -> bool:
  """A list, a tuple or another sequence, but not a string."""
  return isinstance(value, (list, tuple)) or (
      not isinstance(value, (str, bytes)) and isinstance(value, Sequence))


def _parse_row(row: Any, sample: int, r: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
  if not _is_sequence(row) or len(row) != 2:
    raise ConstraintError(f"sample {sample}, row {r}: expected two cells, got {row!r}")
  return tuple(_parse_cell(c, sample, r) for c in row)


@functools.lru_cache(maxsize=65536)
def _parse_known_cell(cell: str | tuple) -> tuple[str, ...] | None:
  """``_parse_cell`` remembered; None where it raises."""
  try:
    return _parse_cell(cell, 0, 0)
  except ConstraintError:
    return None


@functools.lru_cache(maxsize=65536)
def _parse_known_row(row: tuple) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
  """``_parse_row`` remembered, as answers repeat the same rows and cells; None where it raises
  (the caller parses the row again to name it in the message)."""
  if len(row) != 2:
    return None
  cells = (_parse_known_cell(row[0]), _parse_known_cell(row[1]))
  return None if None in cells else cells


def _parse_sample(sample: Any, index: int, people: int):
  if not _is_sequence(sample):
    raise ConstraintError(
        f"sample {index}: expected a list of (cell_1, cell_2) rows, got {sample!r}")
  rows, dropped = [], 0
  for r, row in enumerate(sample):
    cells = None
    if isinstance(row, (tuple, list)):
      try:
        cells = _parse_known_row(tuple(row))
      except TypeError:  # an unhashable cell, e.g. a list of names
        pass
    if cells is None:
      cells = _parse_row(row, index, r)
    if vocabulary.GROUND in cells[0] or vocabulary.GROUND in cells[1]:
      if people == 2:
        raise ConstraintError(
            f"sample {index}, row {r}: 'ground' is not a part of the two-person vocabulary; "
            f"drop the row")
      dropped += 1
      continue
    rows.append(cells)
  return rows, dropped


@functools.lru_cache(maxsize=65536)
def _cell_key(cell: tuple[str, ...]) -> tuple[str, ...]:
  return tuple(sorted({vocabulary.split_side(name)[1] for name in cell}))


@functools.lru_cache(maxsize=65536)
def _row_key(row) -> tuple:
  """The frequency filter's key: the unordered pair of the cells' sets of side-free names."""
  return tuple(sorted(_cell_key(cell) for cell in row))


# --------------------------------------------------------------------------------------------------
# Compiling one sample: per valid assignment, row and combination, the (region, region) pair


@functools.lru_cache(maxsize=None)
def _options(name: str, side: str | None) -> tuple[int, ...]:
  """Resolved regions a name may stand for: one if central, sided or given a side, else both."""
  if vocabulary.is_lateral(name):
    sides = vocabulary.SIDES if side is None else (side,)
    return tuple(vocabulary.REGION_INDEX[vocabulary.sided(name, s)] for s in sides)
  return (vocabulary.REGION_INDEX[name],)


@functools.lru_cache(maxsize=65536)
def _option_count(cell: tuple[str, ...]) -> int:
  return sum(len(_options(name, None)) for name in cell)


def _check_combinations(count: int, sample: int, row: int) -> None:
  if count > MAX_COMBINATIONS:
    raise ConstraintError(
        f"sample {sample}, row {row}: {count} combinations of alternatives and sides exceed "
        f"{MAX_COMBINATIONS}; name fewer alternatives in the cells")


@functools.lru_cache(maxsize=65536)
def _lateral_names(row: tuple) -> tuple[tuple[int, int, str, int | None], ...]:
  """The lateral names of a row, side-free or sided, as (column, position in cell, part, written
  side: left 0, right 1, None when side-free)."""
  found = []
  for col, cell in enumerate(row):
    for k, name in enumerate(cell):
      side, part = vocabulary.split_side(name)
      if part in _LATERAL:
        found.append((col, k, part, None if side is None else vocabulary.SIDES.index(side)))
  return tuple(found)


def _side_groups(rows) -> list[list[tuple[int, int, int, int | None]]]:
  """Lateral occurrences (row, column, position in cell, written side) grouped by (column, part);
  only the groups the chirality rule constrains: two or more occurrences, one at least side-free,
  and not both sides written in cells without alternatives (always taken: the rule then holds
  whatever the others take, as for the two rows a plural "hands" becomes)."""
  occurrences = collections.defaultdict(list)
  for r, row in enumerate(rows):
    for col, k, part, side in _lateral_names(row):
      occurrences[(col, part)].append((r, col, k, side))
  return [g for g in occurrences.values()
          if len(g) >= 2 and any(side is None for *_, side in g)
          and {side for r, col, _, side in g if side is not None and len(rows[r][col]) == 1}
          != {0, 1}]


@functools.lru_cache(maxsize=65536)
def _cell_choices(cell: tuple[str, ...], constrained: tuple[int, ...]) -> tuple:
  """What one two-person cell may stand for, one choice per assignment: ``(k, side)`` (left 0,
  right 1) for each constrained occurrence k (its name taken, on that side: either for a
  side-free name, the written one for a sided name), then ``None`` (one of the cell's other
  names, free sides included, whichever is closest) when there are other names. A cell without
  constrained occurrences has the single choice ``None``."""
  choices = []
  for k in constrained:
    written = vocabulary.split_side(cell[k])[0]
    choices += [(k, s) for s in (0, 1) if written is None or vocabulary.SIDES[s] == written]
  return tuple(choices) + ((None,) if len(constrained) < len(cell) else ())


def _choice_options(cell: tuple[str, ...], constrained: tuple[int, ...], choice) -> list[int]:
  """The regions a cell may stand for under one of its choices (``_cell_choices``)."""
  if choice is not None:
    k, side = choice
    part = vocabulary.split_side(cell[k])[1]
    return [vocabulary.REGION_INDEX[vocabulary.sided(part, vocabulary.SIDES[side])]]
  return [o for k, name in enumerate(cell) if k not in constrained for o in _options(name, None)]


class _SampleChoices(NamedTuple):
  """The side variables of one two-person sample, as ``_compile_two_person`` enumerates them."""

  # Per row and column, the positions in the cell of its constrained occurrences.
  positions: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
  cells: tuple[tuple[int, int], ...]  # (row, column) of each cell with one, in row order
  groups: tuple[tuple[tuple[int, int, bool] | None, ...], ...]
  """Per such cell and choice, (constrained group, side, whether the side is free rather than
  written) of the name the choice takes, or None for the cell's other names."""
  components: tuple[tuple[int, ...], ...]
  """Cells grouped so that no group of constrained occurrences spans two components (a cell with
  two constrained names, "hand / arm", joins their groups); components are independent."""


def _sample_choices(rows) -> _SampleChoices:
  groups = _side_groups(rows)
  positions = [[[], []] for _ in rows]
  group_of = {}
  for g, group in enumerate(groups):
    for r, col, k, _ in group:
      positions[r][col].append(k)
      group_of[(r, col, k)] = g
  positions = tuple(tuple(tuple(sorted(p)) for p in row) for row in positions)
  cells = tuple((r, col) for r in range(len(rows)) for col in (0, 1) if positions[r][col])
  cell_groups = tuple(
      tuple(None if c is None else (group_of[(r, col, c[0])], c[1],
                                    vocabulary.split_side(rows[r][col][c[0]])[0] is None)
            for c in _cell_choices(rows[r][col], positions[r][col])) for r, col in cells)
  # Components: union-find over groups, joined by the cells they share.
  parent = list(range(len(groups)))

  def root(g):
    while parent[g] != g:
      parent[g] = parent[parent[g]]
      g = parent[g]
    return g

  for r, col in cells:
    first, *others = [group_of[(r, col, k)] for k in positions[r][col]]
    for g in others:
      parent[root(g)] = root(first)
  components = collections.defaultdict(list)
  for i, (r, col) in enumerate(cells):
    components[root(group_of[(r, col, positions[r][col][0])])].append(i)
  return _SampleChoices(positions, cells, cell_groups, tuple(map(tuple, components.values())))


_BOTH = 3  # the side mask of a group that used the left (1) and the right (2) side


def _valid_count(choices: _SampleChoices, component: tuple[int, ...]) -> int:
  """How many choices of one component's cells are valid, counted without enumerating them.

  A dynamic programme over the cells whose state is, per group, how often it was taken (0, 1 or
  2 and more), which sides it used and whether a side-free occurrence was taken; valid at the end
  when every group taken twice or more, side-free at least once, used both sides.
  """
  groups = sorted({c[0] for i in component for c in choices.groups[i] if c is not None})
  index = {g: j for j, g in enumerate(groups)}
  counts = {((0, 0, False),) * len(groups): 1}
  for i in component:
    following = collections.Counter()
    for state, ways in counts.items():
      for choice in choices.groups[i]:
        if choice is None:
          following[state] += ways
          continue
        g, side, free = choice
        j = index[g]
        times, used, any_free = state[j]
        taken = (min(times + 1, 2), used | (1 << side), any_free or free)
        following[state[:j] + (taken,) + state[j + 1:]] += ways
    counts = following
  return sum(ways for state, ways in counts.items()
             if all(_allowed(*group) for group in state))


def _allowed(times: int, used: int, any_free: bool) -> bool:
  """The chirality rule for one (column, part): taken at most once, or both sides used, or every
  occurrence taken has its side written (honoured as written)."""
  return times < 2 or used == _BOTH or not any_free


def _valid_choices(choices: _SampleChoices, component: tuple[int, ...]) -> np.ndarray:
  """(A_c, cells of the component) the choice index of each cell, for every valid choice of the
  component's cells, in ``itertools.product`` order."""
  valid = []
  for picks in itertools.product(*(range(len(choices.groups[i])) for i in component)):
    state = collections.defaultdict(lambda: (0, 0, False))
    for i, pick in zip(component, picks):
      chosen = choices.groups[i][pick]
      if chosen is not None:
        g, side, free = chosen
        times, used, any_free = state[g]
        state[g] = (times + 1, used | (1 << side), any_free or free)
    if all(_allowed(*group) for group in state.values()):
      valid.append(picks)
  return np.array(valid, np.int64).reshape(len(valid), len(component))


def assignment_count(rows: Sequence[Sequence[str | Sequence[str]]]) -> int:
  """The number of valid left/right assignments ``Constraints.from_pairs`` enumerates for one
  two-person sample (see the module docstring).

  Args:
    rows: one sample's ``(cell_1, cell_2)`` rows, as ``Constraints.from_pairs`` takes them.
  """
  rows = [tuple(_parse_cell(c, 0, r) for c in row) for r, row in enumerate(rows)]
  choices = _sample_choices(rows)
  return math.prod(_valid_count(choices, component) for component in choices.components)


class _Compiled(NamedTuple):
  """One sample compiled: what ``_assemble`` writes into the padded arrays. Memoised: read only."""

  assignments: int  # A, the number of valid left/right assignments (1 for one person)
  tables: tuple[tuple[np.ndarray, ...], ...]
  """Per row, its V variants (two people: one per choice of its cells, see ``_row_variants``; one
  person: one), each (C_v, 2) int32: the regions on body 0 and body 1 (one person: the same body,
  smaller index first) of each of the variant's C_v combinations."""
  variant: np.ndarray | None
  """(A, R) int: the variant each row takes under each assignment; None when A is 1 and every
  row has a single variant."""


def _read_only(array: np.ndarray) -> np.ndarray:
  array.flags.writeable = False
  return array


@functools.lru_cache(maxsize=65536)
def _row_codes(row: tuple, width: int) -> tuple[int, ...]:
  """A row's two cells as codes into ``NAMES``, each padded with -1 to ``width``, one after the
  other."""
  return tuple(code for cell in row
               for code in [NAME_CODE[name] for name in cell] + [-1] * (width - len(cell)))


@functools.lru_cache(maxsize=65536)
def _row_variants(row: tuple, positions: tuple[tuple[int, ...], tuple[int, ...]]
                  ) -> tuple[np.ndarray, ...]:
  """The (C_v, 2) region pairs of one two-person row under each of its variants: one variant per
  pair of choices of its two cells (``_cell_choices`` given the constrained ``positions`` in each
  cell), numbered ``choice_1 * (choices of cell 2) + choice_2``."""
  per_cell = [[_choice_options(cell, constrained, choice)
               for choice in _cell_choices(cell, constrained)]
              for cell, constrained in zip(row, positions)]
  return tuple(_read_only(np.array(list(itertools.product(a, b)), np.int32).reshape(-1, 2))
               for a, b in itertools.product(*per_cell))


def _compile_two_person(rows, sample: int, max_side_variables: int) -> _Compiled:
  choices = _sample_choices(rows)
  count = math.prod(_valid_count(choices, component) for component in choices.components)
  if count > 2 ** max_side_variables:  # counted first: enumerating so many would take long
    raise ConstraintError(
        f"sample {sample}: {count} valid left/right assignments exceed "
        f"2^max_side_variables = {2 ** max_side_variables}; raise max_side_variables or check the "
        f"answer for parts repeated in one column")
  for r, (row, positions) in enumerate(zip(rows, choices.positions)):
    largest = [max(len(_choice_options(cell, constrained, c))
                   for c in _cell_choices(cell, constrained))
               for cell, constrained in zip(row, positions)]
    _check_combinations(largest[0] * largest[1], sample, r)
  # A row's combinations depend only on the choices of its own two cells: each of its variants is
  # built once (and memoised across samples), and every assignment picks one.
  tables = tuple(_row_variants(row, positions) for row, positions in zip(rows, choices.positions))
  if not choices.cells:
    return _Compiled(1, tables, None)
  # (A, cells) the choice of every cell under each valid assignment: the product of the
  # components' valid choices (the validity rule of a component involves its own cells only),
  # the first component major.
  valid_choices = [_valid_choices(choices, component) for component in choices.components]
  count = math.prod(len(valid) for valid in valid_choices)
  picks = np.zeros((count, len(choices.cells)), np.int64)
  repeat = count
  for component, valid in zip(choices.components, valid_choices):
    repeat //= len(valid)
    picks[:, list(component)] = valid[(np.arange(count) // repeat) % len(valid)]
  # (A, R) each row's variant number from its cells' choices (a cell without constrained
  # occurrences has the single choice 0).
  column = {cell: i for i, cell in enumerate(choices.cells)}
  variant = np.zeros((count, len(rows)), np.int64)
  for r, (row, positions) in enumerate(zip(rows, choices.positions)):
    second = len(_cell_choices(row[1], positions[1]))
    for col, scale in ((0, second), (1, 1)):
      if (r, col) in column:
        variant[:, r] += scale * picks[:, column[(r, col)]]
  return _Compiled(count, tables, _read_only(variant))


@functools.lru_cache(maxsize=65536)
def _one_person_combinations(row: tuple) -> tuple[np.ndarray]:
  """The single variant of one one-person row: (C, 2) region pairs, smaller index first, in order
  of first occurrence; a combination naming the same region twice is left out."""
  cell_options = [[o for name in cell for o in _options(name, None)] for cell in row]
  combos = dict.fromkeys(
      (min(a, b), max(a, b)) for a, b in itertools.product(*cell_options) if a != b)
  return (_read_only(np.array(list(combos), np.int32).reshape(-1, 2)),)


def _compile_one_person(rows, sample: int) -> _Compiled:
  for r, row in enumerate(rows):
    _check_combinations(_option_count(row[0]) * _option_count(row[1]), sample, r)
  return _Compiled(1, tuple(_one_person_combinations(row) for row in rows), None)


@functools.lru_cache(maxsize=8192)
def _compiled(rows: tuple, people: int, max_side_variables: int) -> _Compiled:
  if people == 2:
    return _compile_two_person(rows, 0, max_side_variables)
  return _compile_one_person(rows, 0)


def _compile_once(rows, sample: int, people: int, max_side_variables: int) -> _Compiled:
  """A sample compiled, remembered by content: the N answers to one image, and the answers to a
  dataset's images, repeat the same few rows over and over."""
  try:
    return _compiled(tuple(rows), people, max_side_variables)
  except ConstraintError:  # compile again so that the message names the sample
    if people == 2:
      return _compile_two_person(rows, sample, max_side_variables)
    return _compile_one_person(rows, sample)


def _bucket(n: int, axis: str) -> int:
  """The padded size of ``axis`` for n items (see ``_MIN_BUCKET``)."""
  minimum = _MIN_BUCKET[axis]
  power = max(minimum, 1 << max(n - 1, 0).bit_length())
  if axis in _FINE_BUCKETS and power >= 8 and n <= 3 * power // 4:
    return max(minimum, 3 * power // 4)
  return power


def _assemble(parsed, compiled: list[_Compiled], rows_valid: list[list[bool]], counts,
              ground_rows, people, min_frequency) -> dict[str, np.ndarray]:
  n = max(len(parsed), 1)
  roles = 2 if people == 2 else 1
  # Every row of every sample: its (sample, position) and per-row facts, as flat lists.
  row_at = ([i for i, rows in enumerate(parsed) for _ in rows],
            [r for rows in parsed for r in range(len(rows))])
  flat_rows = [row for rows in parsed for row in rows]
  flat_combos = [len(variant) for c in compiled for table in c.tables for variant in table]
  size = {
      "entries": _bucket(sum(c.assignments for c in compiled), "entries"),
      "rows": _bucket(max([len(rows) for rows in parsed] + [0]), "rows"),
      "combinations": _bucket(max(flat_combos + [0]), "combinations"),
      "alternatives": _bucket(max([len(cell) for row in flat_rows for cell in row] + [0]),
                              "alternatives"),
  }
  big_e, big_r, big_c, big_m = (size[k] for k in ("entries", "rows", "combinations",
                                                  "alternatives"))
  row_valid = np.zeros((n, big_r), bool)
  row_valid[row_at] = [valid for sample in rows_valid for valid in sample]
  row_count = np.zeros((n, big_r), np.int32)
  row_count[row_at] = [counts[_row_key(row)] for row in flat_rows]
  row_names = np.full((n, big_r, 2, big_m), -1, np.int32)
  row_names[row_at] = np.array([_row_codes(row, big_m) for row in flat_rows],
                               np.int32).reshape(-1, 2, big_m)

  # Row variants: the combinations of every valid row under each choice of its cells (each choice
  # occurs under some valid assignment). Equal variants (a row repeated within a sample or across
  # the N samples) are stored once.
  tables = []  # per variant, (C_w, 2) region pairs
  number_of = {}
  entry_sample = np.zeros(big_e, np.int32)
  entry_variants = np.full((big_r, big_e), -1, np.int32)
  first = 0
  for i, c in enumerate(compiled):
    last = first + c.assignments
    entry_sample[first:last] = i
    for r, table in enumerate(c.tables):
      if not rows_valid[i][r]:
        continue
      numbers = []
      for variant in table:
        key = variant.tobytes()
        if key not in number_of:
          number_of[key] = len(tables)
          tables.append(variant)
        numbers.append(number_of[key])
      entry_variants[r, first:last] = (numbers[0] if len(numbers) == 1
                                       else np.asarray(numbers)[c.variant[:, r]])
    first = last
  size["variants"] = _bucket(len(tables), "variants")
  big_w = size["variants"]
  entry_valid = np.arange(big_e) < first
  sample_valid = np.arange(n) < len(parsed)
  sample_nonempty = np.zeros(n, bool)
  # One person: a sample whose rows all fail the frequency filter constrains nothing, so it is
  # as empty as one without rows (and an image of only such samples keeps its baseline).
  sample_nonempty[:len(parsed)] = [any(valid) for valid in rows_valid]
  ground = np.zeros(n, np.int32)
  ground[:len(parsed)] = ground_rows

  # The pair table: every (region, region) pair the loss reads (for two people in both orders, one
  # per person role), numbered in order of first occurrence over variants, combinations, roles.
  combos = np.array([len(t) for t in tables], int)
  variant_valid = np.arange(big_c)[:, None] < np.pad(combos, (0, big_w - len(tables)))[None, :]
  used = np.concatenate(tables) if tables else np.zeros((0, 2), np.int32)  # (K, 2), that order
  used = np.stack([used, used[:, ::-1]], axis=1) if roles == 2 else used[:, None]  # (K, O, 2)
  keys = used[..., 0] * NUM_REGIONS + used[..., 1]
  first_at = np.full(NUM_REGIONS * NUM_REGIONS, keys.size)
  np.minimum.at(first_at, keys.ravel(), np.arange(keys.size))
  ordered = np.flatnonzero(first_at < keys.size)
  ordered = ordered[np.argsort(first_at[ordered])]
  number = np.zeros(NUM_REGIONS * NUM_REGIONS, np.int32)
  number[ordered] = np.arange(len(ordered))
  variant_pairs = np.zeros((roles, big_c, big_w), np.int32)
  variant_pairs.transpose(2, 1, 0)[variant_valid.T] = number[keys]
  size["pairs"] = _bucket(len(ordered), "pairs")
  pair_regions = np.zeros((size["pairs"], 2), np.int32)
  pair_regions[:len(ordered)] = np.stack(np.divmod(ordered, NUM_REGIONS), axis=-1)
  pair_valid = np.arange(size["pairs"]) < len(ordered)
  return dict(
      pair_regions=pair_regions, pair_valid=pair_valid, variant_pairs=variant_pairs,
      variant_valid=variant_valid, entry_variants=entry_variants, entry_sample=entry_sample,
      entry_valid=entry_valid, row_valid=row_valid, row_count=row_count, row_names=row_names,
      sample_valid=sample_valid, sample_nonempty=sample_nonempty, ground_rows=ground,
      min_frequency=np.asarray(min_frequency, np.int32))
