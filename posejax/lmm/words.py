"""One table cell's words to vocabulary names, and one table row to constraint rows.

``posejax.lmm.parsing`` finds the table and its two columns; this module reads what a cell says,
as names ``Constraints.from_pairs`` accepts. Every word or side left out is counted.

Decisions about words
  * Plurals mean both sides: "hands" ("both hands", "left and right hand") splits the row into a
    "left hand" and a "right hand" row. When both cells are plural ("hands | shoulders") the second
    stays side-free in both rows, so the chirality rule pairs the sides as fits best instead of
    claiming that each hand touches both shoulders. Plurals of sub-parts ("fingers", "toes") are
    not plurals of the part; plurals of central parts ("heads") mean the part.
  * Several parts in one cell ("back, waist", "back/waist", "back or waist", "back and waist",
    "hand (palm)") are alternatives: a cell is one end of one contact; the closest one counts.
  * Left/right written despite the instruction are dropped, as in the published method (models
    confuse the person's side with the viewer's, and the loss minimises over sides anyway);
    ``trust_sides=True`` keeps them and the loss honours them (``posejax.constraint_tables``).
  * ``SYNONYMS`` maps anatomical words onto the vocabulary; a word on the border of two regions
    (wrist, ankle, armpit) maps to both. For one person, names fold onto the one-person prompt's
    parts ("shoulder (front)" -> "shoulder", "lower back" -> "back") so that the frequency filter
    counts the same contact in different words together. For two people, "lower back" is
    "waist (back)". "back of the hand", "side of the head" name the part itself; "back of the
    shoulder", "shoulder (rear)", "shoulder blade" name the vocabulary's halves.
  * "ground" / "floor" / "mat" is kept for one person and dropped from two-person answers. One
    person: "head | head" is trivially true and dropped; "hand | hand" means the two hands.
  * Misspellings are corrected when exactly one known word is close enough: for 4 letters a swap
    of neighbours, 5-7 letters one edit, 8 or more two ("sholder", "stomache", "haed").
  * Filler words (articles, "person", "upper", "area", ...) are ignored; other words are unknown.

Cells and rows are cached (``functools.lru_cache``): a dataset's answers repeat a few dozen rows.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
from typing import Sequence, Union

from posejax.body import vocabulary

Cell = Union[str, tuple[str, ...]]
Row = tuple[Cell, Cell]

# Canonical tokens the phrase rules produce for the two-word regions.
_SHOULDER_FRONT = "shoulderfront"
_SHOULDER_BACK = "shoulderback"
_WAIST_FRONT = "waistfront"
_WAIST_BACK = "waistback"
_LOWER_BACK = "lowerback"

SYNONYMS: dict[str, tuple[str, ...]] = {
    "head": ("head",), "neck": ("neck",), "chest": ("chest",), "stomach": ("stomach",),
    "waist": ("waist",), "back": ("back",), "butt": ("butt",), "hand": ("hand",), "arm": ("arm",),
    "foot": ("foot",), "leg": ("leg",), "shoulder": ("shoulder",), "ground": (vocabulary.GROUND,),
    _SHOULDER_FRONT: ("shoulder (front)",), _SHOULDER_BACK: ("shoulder (back)",),
    _WAIST_FRONT: ("waist (front)",), _WAIST_BACK: ("waist (back)",),
    # Lower back: inside "waist (back)" for two people (the prompt offers it); "back" for one person
    # (see _ONE_PERSON_WORDS).
    _LOWER_BACK: ("waist (back)",),
    "palm": ("hand",), "finger": ("hand",), "fingertip": ("hand",), "thumb": ("hand",),
    "fist": ("hand",), "knuckle": ("hand",),
    # Wrist: the joint between the hand and forearm regions; either may be the one touched.
    "wrist": ("hand", "arm"),
    "forearm": ("arm",), "elbow": ("arm",), "bicep": ("arm",), "biceps": ("arm",), "tricep": ("arm",),
    "triceps": ("arm",),
    # Armpit: between the upper arm and the side of the chest.
    "armpit": ("arm", "chest"),
    "toe": ("foot",), "heel": ("foot",), "sole": ("foot",), "instep": ("foot",),
    # Ankle: between the foot and shin regions.
    "ankle": ("foot", "leg"),
    # A lap is the top of the thighs: one leg, not both (sitting across a lap may touch only one).
    "thigh": ("leg",), "knee": ("leg",), "shin": ("leg",), "calf": ("leg",), "lap": ("leg",),
    # The hips and pelvis are the band the waist region covers; the groin is its front.
    "hip": ("waist",), "pelvis": ("waist",), "groin": (_WAIST_FRONT,), "crotch": (_WAIST_FRONT,),
    "belly": ("stomach",), "abdomen": ("stomach",), "abs": ("stomach",), "tummy": ("stomach",),
    "midsection": ("stomach",), "midriff": ("stomach",), "abdominal": ("stomach",),
    "breast": ("chest",), "pec": ("chest",), "pecs": ("chest",), "pectoral": ("chest",),
    "sternum": ("chest",), "ribs": ("chest",), "rib": ("chest",), "ribcage": ("chest",),
    "bosom": ("chest",),
    # Torso: says only "the trunk"; any of its regions may be meant.
    "torso": ("chest", "stomach", "back"), "trunk": ("chest", "stomach", "back"),
    "spine": ("back",),
    # The collarbone is the front of the shoulder (the phrase rules take "shoulder blade").
    "collarbone": (_SHOULDER_FRONT,), "clavicle": (_SHOULDER_FRONT,),
    "throat": ("neck",), "nape": ("neck",),
    "face": ("head",), "forehead": ("head",), "cheek": ("head",), "chin": ("head",), "jaw": ("head",),
    "mouth": ("head",), "lip": ("head",), "nose": ("head",), "ear": ("head",), "eye": ("head",),
    "temple": ("head",), "hair": ("head",), "scalp": ("head",), "skull": ("head",),
    # "rear" only after the phrase rules took "rear shoulder".
    "buttock": ("butt",), "buttocks": ("butt",), "bottom": ("butt",), "glute": ("butt",),
    "glutes": ("butt",), "bum": ("butt",), "backside": ("butt",), "rear": ("butt",),
    "floor": (vocabulary.GROUND,), "mat": (vocabulary.GROUND,),
}
"""Word -> vocabulary names (alternatives). Keys are singular; plurals are handled separately."""

_PLURALS: dict[str, str] = {
    "hands": "hand", "arms": "arm", "feet": "foot", "foots": "foot", "legs": "leg",
    "shoulders": "shoulder", "palms": "palm", "fists": "fist", "wrists": "wrist", "forearms": "forearm",
    "elbows": "elbow", "armpits": "armpit", "heels": "heel", "soles": "sole", "ankles": "ankle",
    "thighs": "thigh", "knees": "knee", "shins": "shin", "calves": "calf", "laps": "lap",
    "hips": "hip", "collarbones": "collarbone", "clavicles": "clavicle", "cheeks": "cheek",
    "ears": "ear", "eyes": "eye", "lips": "lip", "heads": "head", "necks": "neck", "chests": "chest",
    "stomachs": "stomach", "waists": "waist", "backs": "back", "butts": "butt", "breasts": "breast",
    "temples": "temple", "bellies": "belly", "torsos": "torso",
    _SHOULDER_FRONT + "s": _SHOULDER_FRONT, _SHOULDER_BACK + "s": _SHOULDER_BACK,
    _WAIST_FRONT + "s": _WAIST_FRONT, _WAIST_BACK + "s": _WAIST_BACK,
}
"""Plural -> singular, for words whose plural means both sides (or, for central parts, the part)."""

_SUB_PART_PLURALS: dict[str, str] = {
    "fingers": "finger", "fingertips": "fingertip", "thumbs": "thumb", "knuckles": "knuckle",
    "toes": "toe", "pectorals": "pectoral", "abdominals": "abdominal",
}
"""Plurals of sub-parts one limb has several of: "fingers" is one hand, not both."""

_ONE_PERSON_WORDS: dict[str, tuple[str, ...]] = {_LOWER_BACK: ("back",)}
"""One person: words read differently (the one-person prompt has "back" and no waist parts)."""

_ONE_PERSON_NAMES: dict[str, str] = {"shoulder (front)": "shoulder", "shoulder (back)": "shoulder"}
"""One person: names folded onto the one-person prompt's parts (see the module docstring)."""

_SIDE_WORDS = {"left": vocabulary.LEFT, "right": vocabulary.RIGHT}
_BOTH_WORDS = frozenset({"both", "each", "two", "pair", "bilateral"})
_EMPTY_WORDS = frozenset({"none", "n", "a", "na", "no", "nothing", "contact", "contacts", "nil",
                          "null", "empty", "not", "applicable", "touching", "visible"})
_FILLER_WORDS = frozenset("""
    the a an of on at to in into onto by near around over under his her their its person persons
    people s p one other own same part parts body area areas region regions side sides upper lower
    inner outer top middle center centre tip tips base surface partially partly possibly slightly
    likely probably touching touches touch contact against resting rests placed wrapped wrapping
    holding holds held around across just is are be being it they them person's individual
    st nd rd th whole entire front posterior anterior mid
    """.split())
# Phrase rules, applied in order to a lower-cased cell before it is split into words.
_OWNERS = r"(?:(?:the|his|her|their|its|person'?s?|p[12]'?s?)\s+)*"
_PHRASE_RULES: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"\b(left|right)\s*(?:and|&|/|or|,|\+)\s*(?:the\s+)?(left|right)\b", " both "),
    (r"\bshoulder\s*blade(s?)\b", " " + _SHOULDER_BACK + r"\1 "),
    (r"\bsmall\s+of\s+" + _OWNERS + r"back\b", " " + _LOWER_BACK + " "),
    (r"\blower\s+back\b", " " + _LOWER_BACK + " "),
    (r"\blumbar\b", " " + _LOWER_BACK + " "),
    (r"\bupper\s+back\b", " back "),
    (r"\b(shoulder|waist)(s?)\s*\(\s*(?:front|anterior|fore)\s*\)", r" \1front\2 "),
    (r"\b(shoulder|waist)(s?)\s*\(\s*(?:back|rear|posterior|behind)\s*\)", r" \1back\2 "),
    (r"\b(?:front|anterior)\s+(?:side\s+)?(?:of\s+)?" + _OWNERS + r"(shoulder|waist)(s?)\b",
     r" \1front\2 "),
    (r"\b(?:back|rear|posterior)\s+(?:side\s+)?(?:of\s+)?" + _OWNERS + r"(shoulder|waist)(s?)\b",
     r" \1back\2 "),
    (r"\b(shoulder|waist)(s?)\s+(?:front|anterior)\b", r" \1front\2 "),
    (r"\b(shoulder|waist)(s?)\s+(?:back|rear|posterior)\b", r" \1back\2 "),
    # "back of the hand", "front of the thigh", "bottom of the foot": the part's own surface.
    (r"\b(?:back|front|bottom|top|side|inside|outside)\s+of\s+" + _OWNERS + r"(?=[a-z])", " "),
    (r"\bbutt\s*cheeks?\b", " butt "),
))
_HTML_TAG = re.compile(r"<[^>]{0,40}>")
_MARKUP = re.compile(r"[*_`~#\[\]{}\"]")
_ALTERNATIVE_SPLIT = re.compile(r"[,/;&+()\\:]|\bor\b|\band\b|\bwith\b|\bplus\b|\bvs\b")
_WORD = re.compile(r"[a-z][a-z']*")


def _osa_distance(a: str, b: str, limit: int) -> int:
  """Optimal-string-alignment distance (edits and neighbour swaps), or limit + 1 when larger."""
  if abs(len(a) - len(b)) > limit:
    return limit + 1
  previous2 = None
  previous = list(range(len(b) + 1))
  for i in range(1, len(a) + 1):
    current = [i] + [0] * len(b)
    best = current[0]
    for j in range(1, len(b) + 1):
      cost = 0 if a[i - 1] == b[j - 1] else 1
      value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
      if (previous2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2]
          and a[i - 2] == b[j - 1]):
        value = min(value, previous2[j - 2] + 1)
      current[j] = value
      best = min(best, value)
    if best > limit:
      return limit + 1
    previous2, previous = previous, current
  return previous[len(b)]


_CORRECTABLE: tuple[str, ...] = tuple(sorted(
    (set(SYNONYMS) | set(_PLURALS) | set(_SUB_PART_PLURALS) | set(_SIDE_WORDS) | {"both"})
    - {_SHOULDER_FRONT, _SHOULDER_BACK, _WAIST_FRONT, _WAIST_BACK, _LOWER_BACK,
       _SHOULDER_FRONT + "s", _SHOULDER_BACK + "s", _WAIST_FRONT + "s", _WAIST_BACK + "s"}))


_PHRASE_WORDS = frozenset("""
    front back rear anterior posterior fore behind blade blades small lower upper lumbar of side
    bottom top inside outside cheek cheeks
    """.split())
_KNOWN_WORDS = frozenset(_CORRECTABLE) | _FILLER_WORDS | _EMPTY_WORDS | _PHRASE_WORDS | _BOTH_WORDS
_PLAIN_WORD = re.compile(r"[a-z]{4,}")


_MAX_CORRECTION = 2


def _deletions(word: str, depth: int) -> set[str]:
  """``word`` and every string made from it by deleting up to ``depth`` letters."""
  found, frontier = {word}, {word}
  for _ in range(depth):
    frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
    found |= frontier
  return found


@functools.cache
def _deletion_index() -> dict[str, tuple[str, ...]]:
  """Deletion variant -> the correctable words it comes from.

  Two words within ``k`` edits or neighbour swaps share a variant made by at most ``k`` deletions
  from each, so looking a word's variants up finds every candidate within the limit, and only
  those few are measured: correcting costs the same whatever the vocabulary's size.
  """
  index: dict[str, list[str]] = collections.defaultdict(list)
  for known in _CORRECTABLE:
    if len(known) >= 4:
      for variant in _deletions(known, _MAX_CORRECTION):
        index[variant].append(known)
  return {variant: tuple(words) for variant, words in index.items()}


@functools.lru_cache(maxsize=8192)
def _correct(word: str) -> str | None:
  """The one known word within the allowed distance of ``word``, else None."""
  if len(word) < 4 or word in _FILLER_WORDS or word in _EMPTY_WORDS:
    return None
  if len(word) == 4:
    swaps = {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(3)}
    found = [w for w in _CORRECTABLE if w in swaps and w != word]
    return found[0] if len(set(found)) == 1 else None
  limit = 1 if len(word) <= 7 else 2
  candidates = set()
  for variant in _deletions(word, limit):
    candidates.update(_deletion_index().get(variant, ()))
  best, found = limit + 1, set()
  for known in sorted(candidates):
    distance = _osa_distance(word, known, limit)
    if distance < best:
      best, found = distance, {known}
    elif distance == best:
      found.add(known)
  if best > limit:
    return None
  if len(found) > 1:
    # "stomache" is as close to "stomach" as to "stomachs": one word in two numbers is no ambiguity.
    bases = {_PLURALS.get(w, _SUB_PART_PLURALS.get(w, w)) for w in found}
    return next(iter(bases)) if len(bases) == 1 and next(iter(bases)) in found else None
  return next(iter(found))


@functools.lru_cache(maxsize=1024)
def _expand(word: str, people: int) -> tuple[str, ...]:
  """The vocabulary names a known singular word stands for."""
  targets = _ONE_PERSON_WORDS.get(word) if people == 1 else None
  if targets is None:
    targets = SYNONYMS[word]
  names: list[str] = []
  for target in targets:
    # Synonyms may point at a canonical token ("groin" -> "waistfront"); resolve it once more.
    for name in SYNONYMS.get(target, (target,)):
      if people == 1:
        name = _ONE_PERSON_NAMES.get(name, name)
      if name not in names:
        names.append(name)
  return tuple(names)


@dataclasses.dataclass(frozen=True)
class _Mention:
  name: str            # a vocabulary name (lateral part, central region or ground)
  side: str | None     # a side written next to it
  plural: bool         # the word meant both sides


@dataclasses.dataclass(frozen=True)
class CellWords:
  mentions: tuple[_Mention, ...]
  unknown: tuple[str, ...]
  corrected: tuple[tuple[str, str], ...]
  stray_sides: int   # side words that qualified no part
  is_empty: bool     # the cell says "none" / is blank


def _clean(text: str) -> str:
  text = _HTML_TAG.sub(" , ", text.lower())
  text = _MARKUP.sub(" ", text)
  return text.replace("-", " ").replace("\u2019", "'")


def _fix_spelling(text: str, corrected: list[tuple[str, str]]) -> str:
  """Replaces misspelt words before the phrase rules, so "sholder (back)" still reads as one part."""

  def replace(match: re.Match) -> str:
    word = match.group(0)
    if word in _KNOWN_WORDS:
      return word
    fixed = _correct(word)
    if fixed is None:
      return word
    corrected.append((word, fixed))
    return fixed

  return _PLAIN_WORD.sub(replace, text)


@functools.lru_cache(maxsize=65536)
def read_cell(raw: str, people: int, fuzzy: bool) -> CellWords:
  corrected: list[tuple[str, str]] = []
  text = _clean(raw)
  if fuzzy:
    text = _fix_spelling(text, corrected)
  for pattern, replacement in _PHRASE_RULES:
    text = pattern.sub(replacement, text)
  mentions: list[_Mention] = []
  unknown: list[str] = []
  stray_sides = 0
  any_word = False
  only_empty_words = True
  for segment in _ALTERNATIVE_SPLIT.split(text):
    side = None
    both = False
    for word in _WORD.findall(segment):
      word = word.strip("'")
      if word.endswith("'s"):
        word = word[:-2]
      if not word:
        continue
      any_word = True
      if word not in _EMPTY_WORDS:
        only_empty_words = False
      if (word not in SYNONYMS and word not in _PLURALS and word not in _SUB_PART_PLURALS
          and word not in _SIDE_WORDS and word not in _BOTH_WORDS):
        if word not in _FILLER_WORDS and word not in _EMPTY_WORDS and len(word) >= 2:
          unknown.append(word)
        continue
      if word in _SIDE_WORDS:
        if side is not None:
          stray_sides += 1
        side = _SIDE_WORDS[word]
        continue
      if word in _BOTH_WORDS:
        both = True
        continue
      plural = both
      if word in _PLURALS:
        word, plural = _PLURALS[word], True
      elif word in _SUB_PART_PLURALS:
        word = _SUB_PART_PLURALS[word]
      for name in _expand(word, people):
        mentions.append(_Mention(name=name, side=side, plural=plural))
      side, both = None, False
    if side is not None:
      stray_sides += 1
  is_empty = not mentions and (not any_word or only_empty_words)
  return CellWords(tuple(mentions), tuple(unknown), tuple(corrected), stray_sides, is_empty)


def _names_of(mentions: Sequence[_Mention], side: str | None, trust_sides: bool) -> tuple[str, ...]:
  """The cell's names, plural lateral parts put on ``side`` (None: left side-free)."""
  names: list[str] = []
  for mention in mentions:
    name = mention.name
    if vocabulary.is_lateral(name):
      if mention.side is not None and trust_sides:
        name = vocabulary.sided(name, mention.side)
      elif mention.plural and side is not None:
        name = vocabulary.sided(name, side)
    if name not in names:
      names.append(name)
  return tuple(names)


def _cell(names: tuple[str, ...]) -> Cell:
  return names[0] if len(names) == 1 else names


@dataclasses.dataclass(frozen=True)
class RowOutcome:
  rows: tuple[Row, ...]            # constraint rows of this table row (before duplicate removal)
  drops: tuple[str, ...]           # reasons for what of it was dropped
  unknown: tuple[str, ...]
  corrected: tuple[tuple[str, str], ...]
  sides_dropped: int
  empty_marker: bool               # "none | none": the table says there is no contact


@dataclasses.dataclass(frozen=True)
class _CellNames:
  """One cell read as a row's side: what ``_read_row`` needs of it, worked out once per cell."""
  words: CellWords
  mentions: tuple[_Mention, ...]   # two people: ground mentions left out
  had_ground: bool                 # two people: a ground mention was left out
  sides_dropped: int               # side words of the mentions that do not reach the output
  plural: bool                     # a plural lateral part: the row splits into left and right
  side_free: Cell | None           # the cell's names, plural parts side-free (None: no mentions)
  sided: tuple[Cell, ...]          # the same with plural parts on the left, then on the right


@functools.lru_cache(maxsize=65536)
def _read_cell_names(raw: str, people: int, trust_sides: bool, fuzzy: bool) -> _CellNames:
  words = read_cell(raw, people, fuzzy)
  mentions = words.mentions
  had_ground = people == 2 and any(m.name == vocabulary.GROUND for m in mentions)
  if had_ground:
    mentions = tuple(m for m in mentions if m.name != vocabulary.GROUND)
  side_free, sided = None, ()
  if mentions:
    side_free = _cell(_names_of(mentions, None, trust_sides))
    sided = tuple(_cell(_names_of(mentions, side, trust_sides)) for side in vocabulary.SIDES)
  sides_dropped = sum(1 for m in mentions if m.side is not None
                      and not (trust_sides and vocabulary.is_lateral(m.name)))
  plural = any(m.plural and vocabulary.is_lateral(m.name) and not (trust_sides and m.side)
               for m in mentions)
  return _CellNames(words, mentions, had_ground, sides_dropped, plural, side_free, sided)


@functools.lru_cache(maxsize=65536)
def read_row(first: str, second: str, people: int, trust_sides: bool,
              fuzzy: bool) -> RowOutcome:
  """One table row's two cells to constraint rows (cached: the same rows recur across answers)."""
  cells = (_read_cell_names(first, people, trust_sides, fuzzy),
           _read_cell_names(second, people, trust_sides, fuzzy))
  read = (cells[0].words, cells[1].words)
  unknown = read[0].unknown + read[1].unknown
  corrected = read[0].corrected + read[1].corrected
  sides = read[0].stray_sides + read[1].stray_sides

  def outcome(rows=(), drops=(), empty_marker=False):
    return RowOutcome(tuple(rows), tuple(drops), unknown, corrected, sides, empty_marker)

  if read[0].is_empty and read[1].is_empty:
    return outcome(empty_marker=True)
  if cells[0].had_ground or cells[1].had_ground:
    # There is no ground plane between two people; a ground alternative is simply left out.
    if not cells[0].mentions or not cells[1].mentions:
      return outcome(drops=["ground in a two-person answer"])
  if not cells[0].mentions or not cells[1].mentions:
    missing = 1 if not cells[0].mentions else 2
    what = "no part" if read[missing - 1].is_empty else "no known part"
    return outcome(drops=[f"{what} in cell {missing}"])
  sides += cells[0].sides_dropped + cells[1].sides_dropped
  if cells[0].plural:
    # Both plural: the second cell stays side-free in both rows (see the module docstring).
    new_rows = [(names, cells[1].side_free) for names in cells[0].sided]
  elif cells[1].plural:
    new_rows = [(cells[0].side_free, names) for names in cells[1].sided]
  else:
    new_rows = [(cells[0].side_free, cells[1].side_free)]
  kept, drops = [], []
  for row in new_rows:
    if people == 1 and row[0] == row[1] and isinstance(row[0], str):
      if row[0] == vocabulary.GROUND:
        drops.append("ground paired with ground")
        continue
      if not vocabulary.is_lateral(row[0]):  # "hand | hand" is the two hands; "head | head" nothing
        drops.append("a part paired with itself")
        continue
    kept.append(row)
  return outcome(rows=kept, drops=drops)


def words_of(text: str) -> list[str]:
  """The lower-cased words of a header or cell, markup removed."""
  return _WORD.findall(_clean(text))
