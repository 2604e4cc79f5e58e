"""Model answers (free text with a Markdown table) to rows of region names for ``Constraints``.

``parse_answer(text, people)`` turns one answer into rows ``(cell_1, cell_2)``: Person 1's part and
Person 2's part (for one person, the two parts that touch). A cell is a name
``Constraints.from_pairs`` accepts or a tuple of alternatives (OR). No text makes the parser raise;
what it leaves out it counts in the answer's diagnostics.

Finding the table
  A table is a run of consecutive lines containing ``|`` that has a separator row (``|---|---|``), or
  whose lines all start with ``|``, or whose first line is a header ("Person 1 Body Part | ...").
  The header is the line just above the separator; when the rows start with a pipe, the first line
  that does not ends the table. Markup (fences, bold, inline code, HTML tags) is stripped. Of
  several tables, the last one of contacts between parts is used (an earlier one is a draft), with
  the last one whose every row names the ground (it adds to the self-contact table).

Choosing the two columns (extra columns: an index, "Confidence", "Notes")
  The first two columns whose header mentions a person or a body part; failing that, with two cells
  per row, those two; failing that, the two columns with the most recognised parts, in table order.

Rows that are no rows
  "none", "N/A", "-", "no contact" or empty in both cells marks an empty table: not a constraint and
  not a dropped row. A row with a part in one cell and nothing usable in the other is dropped, with
  its reason. Every row counts, repeats included, as in the published loss (a sum over rows): a
  model told not to say left or right writes "hand | back" twice for both hands, which the
  chirality rule (METHOD.md) reads exactly so.

Answers without a table are empty samples; when the text reads as a refusal ("I'm sorry, I can't
...") it is flagged as one. Refusals and garbage are still samples: they count in the mean over N.

How each cell's words become names (synonyms, plurals, sides, spelling): ``posejax.lmm.words``.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
import warnings
from typing import Iterable, Sequence

from posejax.body import vocabulary
from posejax.errors import InvalidInputError
from posejax.errors import PoseJaxWarning
from posejax.lmm.words import Row
from posejax.lmm.words import read_cell
from posejax.lmm.words import read_row
from posejax.lmm.words import words_of

_HEADER_WORDS = frozenset("""
    person persons people body part parts column individual subject contact contacts p a b of the
    region regions limb limbs first second 's s touching touches pair pairs with
    """.split())
_NO_CONTACT = re.compile(
    r"\bno\s+(?:physical\s+|visible\s+|body\s+|direct\s+)?(?:contact|touch(?:ing)?)\b|"
    r"\bnot\s+(?:in\s+)?(?:physical\s+|direct\s+)?(?:contact|touching)\b|"
    r"\b(?:aren'?t|isn'?t|don'?t|do\s+not|does\s+not|doesn'?t)\s+(?:appear\s+to\s+)?touch|"
    r"\bno\s+(?:body\s+)?parts?\s+(?:are\s+|is\s+)?(?:touching|in\s+contact)|"
    r"\b(?:cannot|can'?t|do\s+not|don'?t)\s+see\s+any\s+(?:contact|touch|body\s+parts?\s+touching)",
    re.IGNORECASE)
_REFUSAL = re.compile(
    r"i'?\s*a?m sorry|i cannot|i can'?t|i can ?not|unable to|not able to|as an ai|cannot assist|"
    r"can'?t help|cannot help|not possible to (determine|identify)|i won'?t", re.IGNORECASE)
_SEPARATOR_CELL = re.compile(r"^\s*:?-{2,}:?\s*$|^\s*:?—+:?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclasses.dataclass(frozen=True)
class DroppedRow:
  """A table row that produced no constraint."""

  text: str  # the row as written
  reason: str  # a short fixed phrase, e.g. "no known part in cell 2"


@dataclasses.dataclass(frozen=True)
class ParsedAnswer:
  """One answer turned into rows, with what was left out and why."""

  rows: tuple[Row, ...] = ()  # (cell_1, cell_2); a cell is a name or a tuple of alternatives
  dropped: tuple[DroppedRow, ...] = ()
  unknown_words: tuple[str, ...] = ()  # words no rule recognised, in order (dropped)
  corrected_words: tuple[tuple[str, str], ...] = ()  # (as written, read as)
  sides_dropped: int = 0  # left/right words that did not reach the output
  table_found: bool = False
  # No row, and the answer said there is no contact (an empty table, "none" rows, "no contact").
  declared_empty: bool = False
  refusal: bool = False  # no row, not declared_empty, and the text reads as a refusal
  tables_ignored: int = 0
  # Written for the other prompt: a "Body Part A | B" table or ground contact in a two-person
  # answer; a "Person 1 | Person 2" table in a one-person answer.
  other_prompt: bool = False

  @property
  def empty(self) -> bool:
    """True when the answer gives no constraint (it still counts as a sample)."""
    return not self.rows

  @property
  def unreadable(self) -> bool:
    """A table was there, but none of its rows gave a constraint (and it did not say "none")."""
    return self.table_found and not self.rows and not self.declared_empty and not self.refusal


@dataclasses.dataclass(frozen=True)
class ParseReport:
  """Diagnostics summed over the answers of one image (or any set of answers).

  The empty answers fall in exactly one of four kinds: ``empty_answers == declared_empty + refusals +
  no_table + unreadable``.
  """

  answers: int = 0
  empty_answers: int = 0  # answers that gave no row
  declared_empty: int = 0  # empty answers that said there is no contact
  refusals: int = 0
  no_table: int = 0  # other empty answers without any table
  unreadable: int = 0  # other empty answers whose table had rows, none of them usable
  other_prompt: int = 0  # answers that read as written for the other prompt
  rows_kept: int = 0  # rows given to ``Constraints``
  rows_dropped: dict[str, int] = dataclasses.field(default_factory=dict)  # reason -> count
  unknown_words: dict[str, int] = dataclasses.field(default_factory=dict)  # word -> count
  # "as written -> read as" -> count
  corrected_words: dict[str, int] = dataclasses.field(default_factory=dict)
  sides_dropped: int = 0  # left/right words ignored

  @classmethod
  def of(cls, parsed: Iterable[ParsedAnswer]) -> ParseReport:
    """Sums the diagnostics of parsed answers."""
    parsed = list(parsed)
    dropped = collections.Counter(d.reason for p in parsed for d in p.dropped)
    unknown = collections.Counter(w for p in parsed for w in p.unknown_words)
    corrected = collections.Counter(f"{a} -> {b}" for p in parsed for a, b in p.corrected_words)
    return cls(
        answers=len(parsed),
        empty_answers=sum(p.empty for p in parsed),
        declared_empty=sum(p.declared_empty for p in parsed),
        refusals=sum(p.refusal for p in parsed),
        no_table=sum(p.empty and not (p.table_found or p.declared_empty or p.refusal)
                     for p in parsed),
        unreadable=sum(p.unreadable for p in parsed),
        other_prompt=sum(p.other_prompt for p in parsed),
        rows_kept=sum(len(p.rows) for p in parsed),
        rows_dropped=dict(dropped.most_common()),
        unknown_words=dict(unknown.most_common()),
        corrected_words=dict(corrected.most_common()),
        sides_dropped=sum(p.sides_dropped for p in parsed))

  @classmethod
  def combine(cls, reports: Iterable[ParseReport]) -> ParseReport:
    """Sums reports (e.g. of every image of a dataset) into one."""
    total = collections.Counter()
    counters = {name: collections.Counter() for name in ("rows_dropped", "unknown_words",
                                                         "corrected_words")}
    for report in reports:
      for field in dataclasses.fields(report):
        value = getattr(report, field.name)
        if field.name in counters:
          counters[field.name].update(value)
        else:
          total[field.name] += value
    numbers = {f.name: total[f.name] for f in dataclasses.fields(cls) if f.name not in counters}
    return cls(**numbers, **{name: dict(c.most_common()) for name, c in counters.items()})

  def as_dict(self) -> dict:
    """A JSON-ready dict of the report."""
    return dataclasses.asdict(self)

  def summary(self) -> str:
    """One line for logs."""
    dropped = sum(self.rows_dropped.values())
    other = (f"; {self.other_prompt} read as the other prompt's (one person vs two)"
             if self.other_prompt else "")
    return (f"{self.answers} answers ({self.empty_answers} empty: {self.declared_empty} said none, "
            f"{self.refusals} refusals, {self.no_table} without a table, {self.unreadable} with no "
            f"usable row); {self.rows_kept} rows kept, {dropped} dropped; "
            f"{sum(self.unknown_words.values())} unknown words; {self.sides_dropped} sides ignored"
            f"{other}")


# ---------------------------------------------------------------------------------------------------
# Tables

_MAYBE_SEPARATOR = re.compile(r"^[\s|:\-—]+$")


@functools.lru_cache(maxsize=65536)
def _split_cells(line: str) -> tuple[str, ...]:
  stripped = line.strip()
  cells = stripped.split("|")
  if stripped.startswith("|"):
    cells = cells[1:]
  if stripped.endswith("|") and cells:
    cells = cells[:-1]
  return tuple(c.strip() for c in cells)


@functools.lru_cache(maxsize=65536)
def _is_separator(line: str) -> bool:
  if not _MAYBE_SEPARATOR.match(line):
    return False
  cells = _split_cells(line)
  return bool(cells) and all(_SEPARATOR_CELL.match(c) or not c for c in cells) and any(
      "-" in c or "\u2014" in c for c in cells)


@functools.lru_cache(maxsize=4096)
def _header_kind(cells: tuple[str, ...]) -> bool:
  """True when every word of the row is a header word and some cell names a person or part."""
  words = [w for c in cells for w in words_of(c)]
  if not words:
    return False
  return all(w in _HEADER_WORDS for w in words) and any(
      w in ("person", "part", "parts", "body", "persons", "region", "limb") for w in words)


@functools.lru_cache(maxsize=4096)
def _header_columns(header: tuple[str, ...]) -> tuple[int, ...]:
  chosen = []
  for index, cell in enumerate(header):
    words = set(words_of(cell))
    if words & {"person", "part", "parts", "body", "region", "limb", "persons", "p"}:
      chosen.append(index)
  return tuple(chosen)


@dataclasses.dataclass
class _Table:
  header: tuple[str, ...] | None
  rows: list[str]  # raw lines
  body_part_header: bool


def _find_tables(lines: Sequence[str]) -> list[_Table]:
  tables: list[_Table] = []
  position = 0
  while position < len(lines):
    if "|" not in lines[position]:
      position += 1
      continue
    end = position
    while end < len(lines) and "|" in lines[end]:
      end += 1
    run = lines[position:end]
    position = end
    separators = [i for i, line in enumerate(run) if _is_separator(line)]
    if separators:
      first = separators[0]
      header = _split_cells(run[first - 1]) if first >= 1 else None
      body = run[first + 1:]
      piped = first >= 1 and run[first - 1].lstrip().startswith("|")
    elif all(line.lstrip().startswith("|") for line in run):
      first_cells = _split_cells(run[0])
      header = first_cells if _header_kind(first_cells) else None
      body = run[1:] if header is not None else run
      piped = True
    elif _header_kind(_split_cells(run[0])):
      header = _split_cells(run[0])
      body = run[1:]
      piped = False
    else:
      continue
    rows = []
    for line in body:
      if _is_separator(line):
        continue
      if piped and not line.lstrip().startswith("|"):
        break  # prose with a pipe right after the table
      rows.append(line)
    tables.append(_Table(header=header, rows=rows,
                         body_part_header=header is not None and len(_header_columns(header)) >= 2))
  return tables


def _choose_columns(table: _Table, people: int, fuzzy: bool) -> tuple[int, int]:
  if table.header is not None:
    columns = _header_columns(table.header)
    if len(columns) >= 2:
      return columns[0], columns[1]
  split = [_split_cells(line) for line in table.rows]
  widths = {len(cells) for cells in split}
  if not split or widths == {2} or max(widths) <= 2:
    return 0, 1
  scores = collections.Counter()
  for cells in split:
    for index, cell in enumerate(cells):
      if read_cell(cell, people, fuzzy).mentions:
        scores[index] += 1
  best = sorted((i for i in scores if scores[i] > 0), key=lambda i: (-scores[i], i))[:2]
  if len(best) < 2:
    return 0, 1
  return min(best), max(best)


def _strip_fences(text: str) -> list[str]:
  lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
  if "```" not in text and "~~~" not in text:
    return lines
  return [line for line in lines if not _FENCE.match(line)]


def parse_answer(text: str, people: int, *, trust_sides: bool = False,
                 fuzzy: bool = True) -> ParsedAnswer:
  """Turns one model answer into constraint rows; never raises.

  Args:
    text: the answer, verbatim.
    people: 2 (rows are Person 1 part, Person 2 part) or 1 (the two touching parts).
    trust_sides: keep "left"/"right" written in the answer instead of dropping them (False: the
      published behaviour; True: the loss honours the written sides).
    fuzzy: correct misspellings within a small edit distance.

  Returns:
    The ``ParsedAnswer``; ``rows`` is empty for refusals, empty tables and answers without a table.

  Raises:
    InvalidInputError: ``people`` is not 1 or 2, or ``text`` is not a string; never because of
      what the text says.
  """
  if people not in (1, 2):
    raise InvalidInputError(f"people must be 1 or 2, got {people!r}")
  if not isinstance(text, str):
    raise InvalidInputError(f"an answer must be a string (the model's text), got "
                            f"{type(text).__name__} {text!r:.40}")
  tables = _find_tables(_strip_fences(text)) if "|" in text else []
  if not tables:
    said_none = bool(_NO_CONTACT.search(text))
    return ParsedAnswer(declared_empty=said_none,
                        refusal=not said_none and bool(_REFUSAL.search(text)))
  chosen = _chosen_tables([_read_table(table, people, trust_sides, fuzzy)
                           for table in _contact_tables(tables, people, fuzzy)])
  rows = tuple(row for table in chosen for row in table.rows)
  dropped = tuple(d for table in chosen for d in table.dropped)
  empty_markers = sum(table.empty_markers for table in chosen)
  # The text is searched for "no contact" and refusals only when no row came out (most answers
  # have rows, and these searches cost more than the table).
  declared_empty = not rows and ((not dropped and (
      empty_markers > 0 or not any(table.lines for table in chosen)))
      or bool(_NO_CONTACT.search(text)))
  header = next((t.header for t in tables if t.body_part_header), tables[-1].header)
  return ParsedAnswer(
      rows=rows, dropped=dropped,
      unknown_words=tuple(w for table in chosen for w in table.unknown),
      corrected_words=tuple(c for table in chosen for c in table.corrected),
      sides_dropped=sum(table.sides_dropped for table in chosen), table_found=True,
      declared_empty=declared_empty,
      refusal=not rows and not declared_empty and bool(_REFUSAL.search(text)),
      tables_ignored=len(tables) - len(chosen),
      other_prompt=_reads_as_other_prompt(header, dropped, people))


def _contact_tables(tables: list[_Table], people: int, fuzzy: bool) -> list[_Table]:
  """The tables of an answer that list contacts, in order: those headed by body-part columns;
  without such a header, those whose rows name a known part; else the last table."""
  with_header = [t for t in tables if t.body_part_header]
  if with_header:
    return with_header
  naming = [t for t in tables if any(read_cell(c, people, fuzzy).mentions
                                     for line in t.rows for c in _split_cells(line))]
  return naming or [tables[-1]]


def _chosen_tables(read: list["_ReadTable"]) -> list["_ReadTable"]:
  """The tables an answer means: its last table of contacts between parts (an earlier one is a
  draft it corrected), and its last table of contacts with the ground, which complements rather
  than replaces it (one person: "hand | foot", then "butt | ground")."""
  if len(read) <= 1:
    return read

  def with_ground(table):
    return bool(table.rows) and all(
        any(vocabulary.GROUND in ((cell,) if isinstance(cell, str) else cell) for cell in row)
        for row in table.rows)

  parts = [t for t in read if not with_ground(t)]
  ground = [t for t in read if with_ground(t)]
  chosen = {id(t) for t in (parts[-1:] + ground[-1:])}
  return [t for t in read if id(t) in chosen]


@dataclasses.dataclass(frozen=True)
class _ReadTable:
  rows: tuple[Row, ...]
  dropped: tuple[DroppedRow, ...]
  unknown: tuple[str, ...]
  corrected: tuple[tuple[str, str], ...]
  sides_dropped: int
  empty_markers: int
  lines: int


def _read_table(table: _Table, people: int, trust_sides: bool, fuzzy: bool) -> _ReadTable:
  """Every row of one table, repeats included: the loss sums over rows, and a lateral part named
  twice in a column means both sides."""
  first, second = _choose_columns(table, people, fuzzy)
  needed = max(first, second)
  rows, dropped, unknown, corrected = [], [], [], []
  sides_dropped = empty_markers = 0
  for line in table.rows:
    cells = _split_cells(line)
    if len(cells) <= needed:
      if all(read_cell(c, people, fuzzy).is_empty for c in cells):
        empty_markers += 1
      else:
        dropped.append(DroppedRow(line.strip(), "too few cells"))
      continue
    outcome = read_row(cells[first], cells[second], people, trust_sides, fuzzy)
    unknown.extend(outcome.unknown)
    corrected.extend(outcome.corrected)
    sides_dropped += outcome.sides_dropped
    empty_markers += outcome.empty_marker
    dropped.extend(DroppedRow(line.strip(), reason) for reason in outcome.drops)
    rows.extend(outcome.rows)
  return _ReadTable(tuple(rows), tuple(dropped), tuple(unknown), tuple(corrected), sides_dropped,
                    empty_markers, len(table.rows))


def _reads_as_other_prompt(header: tuple[str, ...] | None, dropped, people: int) -> bool:
  names_people, lettered = _header_style(header)
  if people == 1:
    return names_people
  return (lettered and not names_people) or any(
      d.reason == "ground in a two-person answer" for d in dropped)


@functools.lru_cache(maxsize=4096)
def _header_style(header: tuple[str, ...] | None) -> tuple[bool, bool]:
  """Whether a header names people ("Person 1 Body Part") and whether it letters its columns
  ("Body Part A", "Body Part B")."""
  words = {w for cell in header or () for w in words_of(cell)}
  return "person" in words or "persons" in words, {"a", "b"} <= words


def parse_answers(answers: Sequence[str], people: int, *, trust_sides: bool = False,
                  fuzzy: bool = True) -> tuple[list[list[Row]], ParseReport, list[ParsedAnswer]]:
  """Parses the answers of one image: the text -> name-rows stage, without building constraints.

  Args:
    answers: the N answers (refusals and empty answers included; each one is a sample).
    people: 1 or 2.
    trust_sides, fuzzy: as for ``parse_answer``.

  Returns:
    ``(samples, report, parsed)``: ``samples`` has one list of rows per answer (empty lists for
    empty answers), in the form ``Constraints.from_pairs`` takes; ``report`` sums the diagnostics;
    ``parsed`` holds each answer's own diagnostics.
  """
  if people not in (1, 2):
    raise InvalidInputError(f"people must be 1 or 2, got {people!r}")
  if isinstance(answers, str):
    raise InvalidInputError("answers must be a list of answer texts, not one string")
  answers = list(answers)
  for index, text in enumerate(answers):
    if not isinstance(text, str):
      raise InvalidInputError(f"answers[{index}] must be a string (the model's text), got "
                              f"{type(text).__name__} {text!r:.40}")
  parsed = [parse_answer(text, people, trust_sides=trust_sides, fuzzy=fuzzy) for text in answers]
  report = ParseReport.of(parsed)
  if report.other_prompt * 2 > report.answers:
    prompt = "one-person" if people == 2 else "two-person"
    warnings.warn(
        f"{report.other_prompt} of {report.answers} answers read as answers to the {prompt} "
        f"prompt, but they were parsed with people={people}; check which prompt was asked",
        PoseJaxWarning, stacklevel=2)
  return [list(p.rows) for p in parsed], report, parsed
