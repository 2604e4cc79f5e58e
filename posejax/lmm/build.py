"""Answers to ``Constraints``: parse every answer, keep within the enumeration limits, build.

``parse(answers, people)`` is the one call most users need::

  cons = posejax.lmm.parse(answers, people=2)
  cons, report = posejax.lmm.parse(answers, people=1, return_report=True)

``Constraints.from_pairs`` refuses a sample or row past its enumeration limits; one odd answer must
not stop a dataset, so such rows are left out here first (a sample's last rows first) and counted.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Sequence

from posejax.body import vocabulary
from posejax.lmm.parsing import ParseReport
from posejax.lmm.parsing import Row
from posejax.lmm.parsing import parse_answers

TOO_MANY_SIDES = "too many left/right variables"
TOO_MANY_ALTERNATIVES = "too many alternatives"


_LATERAL = frozenset(vocabulary.LATERAL_PARTS)


def _options(cell) -> int:
  if isinstance(cell, str):
    return 2 if cell in _LATERAL else 1
  return sum(2 if name in _LATERAL else 1 for name in cell)


_PART_OF = {name: vocabulary.split_side(name)[1] for name in vocabulary.RESOLVED_REGIONS}
_PART_OF.update({name: name for name in _LATERAL})


def _lateral_total(rows: Sequence[Row]) -> int:
  """Lateral occurrences in the rows, side-free or sided (cheap upper bound of
  ``_lateral_repeats``)."""
  total = 0
  for row in rows:
    for cell in row:
      if cell.__class__ is str:
        total += _PART_OF.get(cell) in _LATERAL
      else:
        total += sum(_PART_OF.get(name) in _LATERAL for name in cell)
  return total


def _lateral_repeats(rows: Sequence[Row]) -> int:
  """Lateral occurrences, side-free or sided, whose part occurs more than once in the same
  column (only these can be constrained by the chirality rule)."""
  occurrences = collections.Counter()
  for row in rows:
    for column, cell in enumerate(row):
      for name in (cell,) if isinstance(cell, str) else cell:
        part = _PART_OF.get(name)
        if part in _LATERAL:
          occurrences[(column, part)] += 1
  return sum(count for count in occurrences.values() if count >= 2)


def fit_to_limits(rows: Sequence[Row], people: int, *, max_side_variables: int,
                  max_combinations: int) -> tuple[list[Row], list[str]]:
  """Keeps the leading rows of one sample that ``Constraints.from_pairs`` can enumerate.

  Args:
    rows: one sample's rows.
    people: 1 or 2.
    max_side_variables: two people: at most ``2**max_side_variables`` valid left/right assignments
      (``posejax.constraint_tables.assignment_count``) per sample.
    max_combinations: the limit on (alternative, side) combinations of one row.

  Returns:
    ``(kept rows, reasons)``: one reason per row left out.
  """
  from posejax.constraint_tables import assignment_count

  reasons: list[str] = []
  candidates: list[Row] = []
  for row in rows:
    short = (1 if row[0].__class__ is str else len(row[0])) * (
        1 if row[1].__class__ is str else len(row[1]))
    if 4 * short > max_combinations and _options(row[0]) * _options(row[1]) > max_combinations:
      reasons.append(TOO_MANY_ALTERNATIVES)
    else:
      candidates.append(row)
  limit = 2 ** max_side_variables
  # A cell with j repeated lateral occurrences has at most 2j + 1 <= 3^j choices (each of them
  # on either side, or one of its other names), so 3^(repeated occurrences) bounds the
  # assignment count from above: nothing to do below the limit.
  if (people == 1 or 3 ** _lateral_total(candidates) <= limit
      or 3 ** _lateral_repeats(candidates) <= limit):
    return candidates, reasons
  if assignment_count(candidates) <= limit:
    return candidates, reasons
  kept: list[Row] = []
  for row in candidates:  # rare: grow the sample row by row while it stays within the limit
    if assignment_count(kept + [row]) <= limit:
      kept.append(row)
    else:
      reasons.append(TOO_MANY_SIDES)
  return kept, reasons


def parse_samples(answers: Sequence[str], people: int, *, trust_sides: bool = False,
                  fuzzy: bool = True, max_side_variables: int | None = None
                  ) -> tuple[list[list[Row]], ParseReport]:
  """The N answers of one image as name rows that ``Constraints.from_pairs`` accepts, and a report.

  Args:
    answers: the answers, verbatim; every one is a sample, empty ones included.
    people: 1 or 2.
    trust_sides: keep left/right written in the answers (see ``parse_answer``).
    fuzzy: correct misspellings.
    max_side_variables: the limit of ``Constraints.from_pairs`` (its default when None).

  Returns:
    ``(samples, report)``: one list of rows per answer, and the diagnostics summed over answers.
  """
  from posejax import constraint_tables  # the array layer; imported late to keep parsing light

  if max_side_variables is None:
    max_side_variables = constraint_tables.DEFAULT_MAX_SIDE_VARIABLES
  samples, report, _ = parse_answers(answers, people, trust_sides=trust_sides, fuzzy=fuzzy)
  extra = collections.Counter()
  fitted = []
  for rows in samples:
    kept, reasons = fit_to_limits(rows, people, max_side_variables=max_side_variables,
                                  max_combinations=constraint_tables.MAX_COMBINATIONS)
    extra.update(reasons)
    fitted.append(kept)
  if extra:
    dropped = collections.Counter(report.rows_dropped)
    dropped.update(extra)
    report = dataclasses.replace(
        report, rows_kept=report.rows_kept - sum(extra.values()),
        rows_dropped=dict(dropped.most_common()),
        empty_answers=sum(not rows for rows in fitted))
  return fitted, report


def parse(answers: Sequence[str], people: int, *, trust_sides: bool = False, fuzzy: bool = True,
          min_frequency: int | None = None, max_side_variables: int | None = None,
          return_report: bool = False):
  """The N answers of one image as ``Constraints``.

  Args:
    answers: the model's answers, verbatim (refusals and empty answers included: each is a sample,
      and the mean over samples counts them).
    people: 2 (contact between two people) or 1 (self-contact).
    trust_sides: False (the published method): left/right written in the answers are dropped
      and every side is chosen by the loss. True: written sides are kept, and the loss honours
      them (a written side is the only one its row may take, and it counts in the chirality
      rule). The published prompt asks for no sides, so most answers have none to honour.
    fuzzy: correct misspellings within a small edit distance.
    min_frequency: one person: the frequency filter's threshold (``Constraints.from_pairs``
      default when None: half the samples, rounded up).
    max_side_variables: the enumeration limit of ``Constraints.from_pairs`` (its default when None).
    return_report: also return the ``ParseReport``.

  Returns:
    ``Constraints``, or ``(Constraints, ParseReport)`` with ``return_report``.
  """
  from posejax.constraints import Constraints

  samples, report = parse_samples(answers, people, trust_sides=trust_sides, fuzzy=fuzzy,
                                  max_side_variables=max_side_variables)
  options = {} if max_side_variables is None else {"max_side_variables": max_side_variables}
  constraints = Constraints.from_pairs(samples, people, min_frequency=min_frequency, **options)
  return (constraints, report) if return_report else constraints
