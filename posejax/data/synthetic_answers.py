"""Simulated language-model answers for the synthetic contact benchmark (not real LMM output).

An answer is a few sentences of reasoning and a two-column Markdown table in the format of
``posejax.lmm.prompts``, written from a scene's true contact pairs with the errors of
``AnswerSettings``:

* missed pairs: each true pair is left out with probability ``miss_rate``;
* hallucinated rows: until all kept true rows are written, each row is a hallucination with
  probability ``hallucination_rate`` (so that is their expected share); a ``near_miss_share`` of
  them move one cell of a true pair to a neighbouring part (``hand`` -> ``arm``), the rest are any
  non-contact pair of allowed parts;
* sides despite the instruction: a lateral part gets one with probability ``side_rate``, the wrong
  one with probability ``wrong_side_rate`` (language models confuse chirality);
* empty answers (``empty_rate``): an empty table, or none after a sentence of doubt.

With ``correlation`` > 0 a scene's answers share their errors, as a real model repeats its
mistakes on one image: the scene first draws a ``SceneBelief``. Per true pair the chance of a miss
is drawn from a beta distribution with mean ``miss_rate`` (the beta-binomial model: the pairwise
correlation of two answers' misses is exactly ``correlation``), likewise the chance of an empty
answer; a hallucinated row is one of a few believed pairs with probability ``correlation``; a
written side is the believed one (wrong with probability ``wrong_side_rate``) with probability
``correlation``. A believed wrong side matters when sides are trusted
(``posejax.lmm.parse(..., trust_sides=True)``): every answer then pulls the same wrong hand. With
``correlation`` 0 the answers are exactly independent samples.

Not errors: for two people either may be "Person 1" (``swap_rate``: columns swapped), and rows
differing only in one part's side may be merged into a plural (``"hands | back"``,
``plural_rate``). Names are the prompt's side-free vocabulary, so true pairs must be resolved
regions whose part is in it. Everything is seeded.
"""

from __future__ import annotations

import dataclasses
from typing import Collection, Sequence

import numpy as np

from posejax.body import vocabulary
from posejax.errors import InvalidInputError
from posejax.lmm import prompts

Pair = tuple[str, str]

TRUE_ROW = "true"
HALLUCINATED_ROW = "hallucinated"

_NEIGHBOURS_TWO_PERSON: dict[str, tuple[str, ...]] = {
    "head": ("neck", "shoulder (front)"),
    "neck": ("head", "shoulder (back)", "chest"),
    "chest": ("stomach", "shoulder (front)", "neck"),
    "stomach": ("chest", "waist (front)"),
    "waist (back)": ("back", "butt", "waist (front)"),
    "waist (front)": ("stomach", "waist (back)", "leg"),
    "back": ("waist (back)", "shoulder (back)", "neck"),
    "shoulder (back)": ("back", "shoulder (front)", "arm"),
    "shoulder (front)": ("chest", "shoulder (back)", "arm"),
    "arm": ("hand", "shoulder (front)", "shoulder (back)"), "hand": ("arm",),
    "leg": ("foot", "butt", "waist (front)"), "foot": ("leg",), "butt": ("waist (back)", "leg"),
}
"""Parts a careless reader confuses with each part (adjacent on the body), two-person vocabulary."""

_NEIGHBOURS_ONE_PERSON: dict[str, tuple[str, ...]] = {
    "head": ("shoulder",), "back": ("shoulder", "butt"), "shoulder": ("arm", "head", "back"),
    "arm": ("hand", "shoulder"), "hand": ("arm",), "leg": ("foot", "butt"), "foot": ("leg",),
    "stomach": ("leg", "arm"), "butt": ("leg", "back"),
}
"""As ``_NEIGHBOURS_TWO_PERSON`` for the one-person vocabulary (``ground`` is never hallucinated:
the synthetic people float, and the reference ignores ground rows)."""

_PLURALS = {"hand": "hands", "arm": "arms", "foot": "feet", "leg": "legs",
            "shoulder": "shoulders", "shoulder (front)": "shoulders (front)",
            "shoulder (back)": "shoulders (back)"}

_TWO_PERSON_OPENINGS = (
    "Looking at the image, {description_lower}",
    "Let me think about how the two people are posed. {description}",
    "{description}",
    "In this photo {description_lower}",
)
_TWO_PERSON_CLOSINGS = (
    "Here are the body parts that touch.", "Based on this, the contacts are as follows.",
    "I will list each pair of touching parts in the table below.", "",
)
_ONE_PERSON_OPENINGS = (
    "The person is in a pose that could be called {pose_name}. {description}",
    "This looks like {pose_name}. {description}",
    "{description} I would name this pose {pose_name}.",
)
_ONE_PERSON_CLOSINGS = (
    "These are the parts of the body that touch each other.",
    "The touching parts are listed below.", "",
)
_DOUBTS = (
    "Parts of the {body} are hidden, and I cannot tell with confidence which body parts touch.",
    "The image is too unclear for me to be sure about any contact.",
    "I am not confident about any specific contact between body parts here.",
)


@dataclasses.dataclass(frozen=True)
class AnswerSettings:
  """How simulated answers err. Rates are probabilities in [0, 1].

  Attributes:
    num_answers: answers per scene (the published method samples N = 20).
    miss_rate: probability that an answer leaves out a given true pair.
    hallucination_rate: expected share of an answer's rows that name parts that do not touch.
    near_miss_share: share of hallucinated rows that are near misses (see the module docstring).
    side_rate: probability that a lateral part is written with a side ("left hand").
    wrong_side_rate: of the sides written, the share that names the wrong side.
    empty_rate: probability that an answer names no contact at all.
    swap_rate: two people: probability that the answer calls the second body "Person 1".
    plural_rate: probability that two true rows differing in one side are merged into a plural.
    correlation: how much the answers of one scene share their errors (0: independent samples;
      1: the same misses, hallucinations and sides in every answer).
  """

  num_answers: int = 20
  miss_rate: float = 0.25
  hallucination_rate: float = 0.2
  near_miss_share: float = 0.5
  side_rate: float = 0.1
  wrong_side_rate: float = 0.5
  empty_rate: float = 0.1
  swap_rate: float = 0.5
  plural_rate: float = 0.3
  correlation: float = 0.0

  def __post_init__(self):
    if not isinstance(self.num_answers, (int, np.integer)) or self.num_answers < 0:
      raise InvalidInputError(
          f"num_answers must be a non-negative integer, got {self.num_answers!r}")
    for field in dataclasses.fields(self)[1:]:  # every rate, after num_answers
      value = getattr(self, field.name)
      if not 0.0 <= float(value) <= 1.0:
        raise InvalidInputError(f"AnswerSettings.{field.name} must lie in [0, 1], got {value!r}")
    if self.hallucination_rate >= 1.0:
      raise InvalidInputError(
          "AnswerSettings.hallucination_rate must be below 1 (at 1 an answer would never end)")

  def to_dict(self) -> dict:
    """The settings as a JSON-ready dict."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: dict) -> AnswerSettings:
    """Inverse of ``to_dict``; unknown keys raise ``InvalidInputError``."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise InvalidInputError(
          f"unknown AnswerSettings keys {unknown}; known keys are {sorted(known)}")
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class SimulatedAnswer:
  """One simulated answer and what went into it.

  Attributes:
    text: the answer as a language model would write it (reasoning, then the Markdown table).
    rows: the table's rows as written, ``(column 1, column 2)``.
    row_kinds: per row, ``"true"`` or ``"hallucinated"``.
    swapped: True when the columns were swapped (the second body is "Person 1").
    empty: True when the answer names no contact on purpose (``empty_rate``).
    sides_given: number of cells written with a side.
    wrong_sides: number of those sides that are wrong.
  """

  text: str
  rows: tuple[Pair, ...]
  row_kinds: tuple[str, ...]
  swapped: bool
  empty: bool
  sides_given: int
  wrong_sides: int


BELIEVED_HALLUCINATIONS = 3
"""Hallucinated pairs a scene's belief holds (the rows its answers repeat)."""


@dataclasses.dataclass(frozen=True)
class SceneBelief:
  """What a simulated model believes about one scene, shared by all its answers.

  Attributes:
    miss: (C,) per true pair, the probability that an answer leaves it out.
    empty: probability that an answer names no contact.
    hallucinations: pairs (prompt names) the model wrongly believes touch.
    wrong_side: (C, 2) bool, per true pair and cell, whether the believed side is the wrong one.
    correlation: the settings' ``correlation`` (share of rows and sides taken from the belief).
  """

  miss: np.ndarray
  empty: float
  hallucinations: tuple[Pair, ...]
  wrong_side: np.ndarray
  correlation: float


def _beta(rng: np.random.Generator, mean: float, correlation: float, size=None):
  """Draws with mean ``mean`` whose Bernoulli children have intra-class correlation
  ``correlation``."""
  if mean <= 0.0 or mean >= 1.0 or correlation <= 0.0:
    return np.full(size, mean) if size is not None else mean
  if correlation >= 1.0:
    return (rng.random(size) < mean).astype(np.float64)
  spread = (1.0 - correlation) / correlation
  return rng.beta(mean * spread, (1.0 - mean) * spread, size)


def scene_belief(true_pairs: Sequence[Sequence[str]], people: int, settings: AnswerSettings,
                 rng: np.random.Generator, *, also_touching: Collection[Sequence[str]] = ()
                 ) -> SceneBelief:
  """Draws one scene's ``SceneBelief`` (see the module docstring) from ``rng``; the other
  arguments are as ``simulate_answer``'s."""
  true_pairs, true_coarse, forbidden = _checked(true_pairs, also_touching, people)
  rho = float(settings.correlation)
  drawn = [_draw_hallucination(rng, people, true_coarse, forbidden, settings.near_miss_share)
           for _ in range(BELIEVED_HALLUCINATIONS)]
  return SceneBelief(
      miss=np.asarray(_beta(rng, settings.miss_rate, rho, len(true_pairs)), np.float64),
      empty=float(_beta(rng, settings.empty_rate, rho)),
      hallucinations=tuple(fake for fake in drawn if fake is not None),
      wrong_side=rng.random((len(true_pairs), 2)) < settings.wrong_side_rate, correlation=rho)


def prompt_parts(people: int) -> tuple[str, ...]:
  """The side-free parts the prompt for ``people`` (1 or 2) allows."""
  if people == 2:
    return vocabulary.TWO_PERSON_PARTS
  if people == 1:
    return vocabulary.ONE_PERSON_PARTS
  raise InvalidInputError(f"people must be 1 or 2, got {people!r}")


def coarse_name(region: str, people: int) -> str:
  """The prompt's side-free name for a resolved region (``"left shoulder (front)"`` ->
  ``"shoulder (front)"``).

  Raises:
    InvalidInputError: when the region has no name in the prompt vocabulary for ``people``
      (e.g. ``"waist"`` for two people, whose prompt only knows its front and back).
  """
  _, part = vocabulary.split_side(region)
  if part not in prompt_parts(people):
    raise InvalidInputError(
        f"region {region!r} cannot be named in the {people}-person prompt; "
        f"use a region whose side-free part is one of {prompt_parts(people)}")
  return part


def coarse_pair(pair: Sequence[str], people: int) -> Pair:
  """Both cells of a true pair in the prompt's side-free names."""
  return coarse_name(pair[0], people), coarse_name(pair[1], people)


def _canonical(pair: Pair, people: int) -> Pair:
  # One person's pairs are unordered: "hand | leg" and "leg | hand" are the same contact.
  return tuple(sorted(pair)) if people == 1 else pair


def _check_pairs(pairs: Sequence[Sequence[str]], people: int, what: str) -> list[Pair]:
  checked = []
  for pair in pairs:
    if len(pair) != 2:
      raise InvalidInputError(f"each of {what} must be a pair of region names, got {pair!r}")
    for name in pair:
      if name not in vocabulary.REGION_INDEX:
        raise InvalidInputError(
            f"{what} holds {name!r}, which is not a resolved region; "
            f"regions are {vocabulary.RESOLVED_REGIONS}")
    coarse_pair(pair, people)
    checked.append((str(pair[0]), str(pair[1])))
  return checked


def _checked(true_pairs, also_touching, people: int) -> tuple[list[Pair], list[Pair], set[Pair]]:
  """The checked true pairs, their prompt names, and the (canonical) pairs never hallucinated."""
  true_pairs = _check_pairs(true_pairs, people, "true_pairs")
  touching = _check_pairs(also_touching, people, "also_touching")
  forbidden = {_canonical(coarse_pair(p, people), people) for p in true_pairs + touching}
  return true_pairs, [coarse_pair(p, people) for p in true_pairs], forbidden


def _draw_hallucination(rng: np.random.Generator, people: int, true_coarse: list[Pair],
                        forbidden: set[Pair], near_miss_share: float) -> Pair | None:
  parts = [p for p in prompt_parts(people) if p != vocabulary.GROUND]
  neighbours = _NEIGHBOURS_TWO_PERSON if people == 2 else _NEIGHBOURS_ONE_PERSON
  if true_coarse and rng.random() < near_miss_share:
    for _ in range(8):
      a, b = true_coarse[rng.integers(len(true_coarse))]
      column = rng.integers(2)
      moved = neighbours[(a, b)[column]]
      new = moved[rng.integers(len(moved))]
      candidate = (new, b) if column == 0 else (a, new)
      if _canonical(candidate, people) not in forbidden:
        return candidate
  for _ in range(64):
    candidate = (parts[rng.integers(len(parts))], parts[rng.integers(len(parts))])
    if _canonical(candidate, people) not in forbidden:
      return candidate
  return None


def _write_cell(region_or_part: str, people: int, settings: AnswerSettings,
                rng: np.random.Generator, believed_wrong: bool | None = None,
                correlation: float = 0.0) -> tuple[str, int, int]:
  """Returns the written cell, whether a side was given (0/1) and whether it was wrong (0/1)."""
  side, part = vocabulary.split_side(region_or_part)
  if not vocabulary.is_lateral(part) or rng.random() >= settings.side_rate:
    return part, 0, 0
  if side is None:  # a hallucinated lateral part has no true side: either is as wrong
    side = vocabulary.SIDES[rng.integers(2)]
    return f"{side} {part}", 1, 0
  if believed_wrong is not None and correlation > 0 and rng.random() < correlation:
    wrong = bool(believed_wrong)
  else:
    wrong = rng.random() < settings.wrong_side_rate
  if wrong:
    side = vocabulary.RIGHT if side == vocabulary.LEFT else vocabulary.LEFT
  return f"{side} {part}", 1, int(wrong)


def _merge_plurals(rows: list[tuple[str, str, str]], rng: np.random.Generator,
                   plural_rate: float) -> list[tuple[str, str, str]]:
  """Merges true rows ``left X | Y`` and ``right X | Y`` (``(cell_1, cell_2, kind)``, resolved
  names) into ``Xs | Y`` with probability ``plural_rate``."""
  merged: list[tuple[str, str, str]] = []
  used = [False] * len(rows)
  for i, (a, b, kind) in enumerate(rows):
    if used[i]:
      continue
    used[i] = True
    if kind == TRUE_ROW:
      partner = None
      for column in (0, 1):
        side, part = vocabulary.split_side((a, b)[column])
        if side is None:
          continue
        wanted = [a, b, TRUE_ROW]
        wanted[column] = vocabulary.mirror(wanted[column])
        j = next((j for j in range(i + 1, len(rows)) if not used[j] and rows[j] == tuple(wanted)),
                 None)
        if j is not None:
          partner = (j, column, part)
          break
      if partner and rng.random() < plural_rate:
        j, column, part = partner
        used[j] = True
        cells = [a, b]
        cells[column] = _PLURALS[part]
        merged.append((cells[0], cells[1], TRUE_ROW))
        continue
    merged.append((a, b, kind))
  return merged


def _table(rows: Sequence[Pair], people: int, rng: np.random.Generator) -> str:
  header = ((prompts.PERSON_1_COLUMN, prompts.PERSON_2_COLUMN) if people == 2
            else (prompts.PART_A_COLUMN, prompts.PART_B_COLUMN))
  rule = ("|---|---|", "| --- | --- |", "|:---|:---|")[rng.integers(3)]
  return "\n".join([f"| {header[0]} | {header[1]} |", rule] + [f"| {a} | {b} |" for a, b in rows])


def _reasoning(people: int, description: str, pose_name: str, rng: np.random.Generator) -> str:
  description = description.strip() or (
      "The two people are in close contact." if people == 2
      else "The person touches their own body.")
  lower = description[0].lower() + description[1:]
  openings, closings = ((_TWO_PERSON_OPENINGS, _TWO_PERSON_CLOSINGS) if people == 2
                        else (_ONE_PERSON_OPENINGS, _ONE_PERSON_CLOSINGS))
  opening = openings[rng.integers(len(openings))]
  closing = closings[rng.integers(len(closings))]
  text = opening.format(description=description, description_lower=lower,
                        pose_name=pose_name or "a seated pose")
  return f"{text} {closing}".strip()


def simulate_answer(true_pairs: Sequence[Sequence[str]], people: int, rng: np.random.Generator,
                    settings: AnswerSettings = AnswerSettings(), *, description: str = "",
                    pose_name: str = "", also_touching: Collection[Sequence[str]] = (),
                    belief: SceneBelief | None = None) -> SimulatedAnswer:
  """One simulated answer.

  Args:
    true_pairs: the scene's contact pairs as resolved region names, ``(body 0 region, body 1
      region)`` or ``(region, region)`` on one body, with parts in the prompt vocabulary.
    people: 1 or 2.
    rng: the random generator (consumed).
    description: a sentence or two about the scene, for the reasoning text.
    pose_name: one person: the pose's name, for the reasoning text.
    also_touching: region pairs that touch without being annotated (never hallucinated).
    belief: the scene's shared belief (``scene_belief``); None: independent errors.

  Raises:
    InvalidInputError: for region names outside the vocabulary.
  """
  true_pairs, true_coarse, forbidden = _checked(true_pairs, also_touching, people)
  empty_rate = settings.empty_rate if belief is None else belief.empty
  miss = np.full(len(true_pairs), settings.miss_rate) if belief is None else belief.miss
  if rng.random() < empty_rate:
    doubt = _DOUBTS[rng.integers(len(_DOUBTS))].format(body="bodies" if people == 2 else "body")
    text = f"{_reasoning(people, description, pose_name, rng)}\n\n{doubt}"
    if rng.random() < 0.5:
      text += "\n\n" + _table((), people, rng)
    return SimulatedAnswer(text=text, rows=(), row_kinds=(), swapped=False, empty=True,
                           sides_given=0, wrong_sides=0)

  kept_ids = [i for i in range(len(true_pairs)) if rng.random() >= miss[i]]
  kept = [true_pairs[i] for i in kept_ids]
  order = rng.permutation(len(kept))
  raw_rows: list[tuple[str, str, str]] = []
  next_true = 0
  while next_true < len(kept):
    if rng.random() < settings.hallucination_rate:
      if (belief is not None and belief.hallucinations and belief.correlation > 0
          and rng.random() < belief.correlation):
        fake = belief.hallucinations[rng.integers(len(belief.hallucinations))]
      else:
        fake = _draw_hallucination(rng, people, true_coarse, forbidden, settings.near_miss_share)
      if fake is not None:
        raw_rows.append((fake[0], fake[1], HALLUCINATED_ROW))
      continue
    a, b = kept[order[next_true]]
    raw_rows.append((a, b, TRUE_ROW))
    next_true += 1

  merged = _merge_plurals(raw_rows, rng, settings.plural_rate)
  swapped = people == 2 and rng.random() < settings.swap_rate
  rows: list[Pair] = []
  kinds: list[str] = []
  sides_given = wrong_sides = 0
  pair_index = {pair: i for i, pair in enumerate(true_pairs)}
  for a, b, kind in merged:
    cells = []
    i = pair_index.get((a, b)) if kind == TRUE_ROW and belief is not None else None
    for column, name in enumerate((a, b)):
      if name in _PLURALS.values():
        cells.append(name)
        continue
      believed = None if i is None else bool(belief.wrong_side[i, column])
      written, given, wrong = _write_cell(name, people, settings, rng, believed,
                                          0.0 if belief is None else belief.correlation)
      cells.append(written)
      sides_given += given
      wrong_sides += wrong
    if swapped:
      cells.reverse()
    rows.append((cells[0], cells[1]))
    kinds.append(kind)

  text = f"{_reasoning(people, description, pose_name, rng)}\n\n{_table(rows, people, rng)}"
  return SimulatedAnswer(text=text, rows=tuple(rows), row_kinds=tuple(kinds), swapped=swapped,
                         empty=False, sides_given=sides_given, wrong_sides=wrong_sides)


def simulate_answers(true_pairs: Sequence[Sequence[str]], people: int,
                     settings: AnswerSettings = AnswerSettings(), *, seed: int | Sequence[int] = 0,
                     description: str = "", pose_name: str = "",
                     also_touching: Collection[Sequence[str]] = (),
                     detailed: bool = False) -> list[str] | list[SimulatedAnswer]:
  """``settings.num_answers`` simulated answers for one scene (stand-ins for LMM samples).

  With ``settings.correlation`` > 0 they share one ``scene_belief``, drawn from its own stream.

  Args:
    true_pairs, people, settings, description, pose_name, also_touching: as ``simulate_answer``.
    seed: an integer or a sequence of integers (e.g. ``(benchmark seed, scene index)``).
    detailed: return ``SimulatedAnswer`` records instead of the texts.

  Returns:
    The answer texts (or records).
  """
  rng = np.random.default_rng(np.random.SeedSequence(seed))
  belief = None
  if settings.correlation > 0:
    # The belief has its own stream: the answers' draws stay in step with independent ones.
    belief_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    belief = scene_belief(true_pairs, people, settings, belief_rng, also_touching=also_touching)
  answers = [simulate_answer(true_pairs, people, rng, settings, description=description,
                             pose_name=pose_name, also_touching=also_touching, belief=belief)
             for _ in range(settings.num_answers)]
  return answers if detailed else [a.text for a in answers]
