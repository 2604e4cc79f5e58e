"""Model answers (free text with a Markdown table) to rows of region names for ``Constraints``.

``parse_answer(text, people)`` turns one answer into rows ``(cell_1, cell_2)``: Person 1's part and
Person 2's part (for one person, the two parts that touch). A cell is a name or a tuple of names that
are alternatives (OR). Every name is one ``Constraints.from_pairs`` accepts: a resolved region
(``"left hand"``, ``"back"``, ``"waist (front)"``), a side-free lateral part (``"hand"``,
``"shoulder (front)"``; the contact loss minimises over its side) or, for one person, ``"ground"``.
The parser never raises, whatever the text; what it leaves out it counts in the answer's diagnostics.

Finding the table
  A table is a run of consecutive lines containing ``|`` that has a separator row (``|---|---|``), or
  whose lines all start with ``|``, or whose first line is a header ("Person 1 Body Part | ...").
  The header is the line just above the separator. Lines of prose that happen to contain a pipe are
  not rows: they belong to no such run, or sit above the header. When a table's rows start with a pipe,
  the first line after it that does not ends the table. Code fences, bold, italics, inline code and
  HTML tags are stripped. When there are several tables, the last one of contacts between parts is
  used (a model that drafts a table and then corrects it means the last one), together with the last
  table whose every row names the ground (a one-person answer that lists its ground contacts apart
  adds them, it does not replace the self-contact table); the others are counted as ignored.

Choosing the two columns (extra columns: an index, "Confidence", "Notes")
  The first two columns whose header mentions a person or a body part; failing that, with two cells
  per row, those two; failing that, the two columns with the most recognised parts, in table order.

Rows that are no rows
  "none", "N/A", "-", "no contact" or empty in both cells marks an empty table: not a constraint and
  not a dropped row. A row with a part in one cell and nothing usable in the other is dropped, with
  the reason recorded. Every row counts, repeats included, as in the published loss (a sum over
  rows): told not to say left or right, a model that means both hands writes "hand | back" twice,
  and the chirality rule (METHOD.md: a part named twice in a column must use both sides) reads it
  exactly so; a repeated central row weighs twice.

Decisions about words
  * Plurals mean both sides: a row whose cell says "hands" ("both hands", "left and right hand")
    becomes two rows, one with "left hand" and one with "right hand", the other cell copied. When both
    cells are plural ("hands | shoulders") the second cell stays side-free in both rows ("shoulder"
    twice): the two-person chirality rule then requires both shoulders, paired with the hands in
    whichever way fits best, instead of claiming that each hand touches both shoulders.
    A plural of a sub-part that one hand has several of ("fingers", "toes") is not a plural of the
    part. Plurals of central parts ("heads") mean the part.
  * Several parts in one cell ("back, waist", "back/waist", "back or waist", "hand (palm)") are
    alternatives: a tuple, duplicates removed, order kept. "and" separates alternatives too: a cell
    is one end of one contact, and the loss takes whichever alternative is closest.
  * Left/right written despite the instruction: dropped by default, as in the published method
    (the prompt asks for none, the models confuse the person's side with the viewer's, and the loss
    minimises over the side anyway); ``trust_sides=True`` keeps them ("left hand"), and the loss
    then honours them: the written side is the only one the row may take, and it counts in the
    chirality rule with the side-free occurrences of the same part (``posejax.constraints``).
    Either way every side word that did not reach the output is counted.
  * Synonyms map anatomical words onto the vocabulary (table ``SYNONYMS`` below, each entry with its
    reason). A word that sits on the border of two regions (wrist, ankle, armpit) maps to both, as
    alternatives. For one person, names are mapped onto the one-person prompt's parts where one covers
    them ("shoulder (front)" -> "shoulder", "lower back" -> "back") so that samples that say the same
    thing in different words count together in the frequency filter; words the one-person list has
    no part for (hip -> "waist", chest) keep their own region, which ``Constraints`` accepts.
    For two people, "lower back" is "waist (back)" (the prompt offers it), and plain "shoulder" and
    "waist" (both halves) are kept as the union regions they name.
  * Where on a part: "back of the hand", "front of the thigh", "side of the head", "bottom of the
    foot" name the part itself; "back/front of the shoulder (waist)", "back shoulder",
    "shoulder (rear)" name the halves the vocabulary has; "shoulder blade" is "shoulder (back)",
    "collarbone" "shoulder (front)", "upper back" "back", "lower back"/"small of the back"/"lumbar"
    see above.
  * "ground" / "floor" / "mat" is kept for one person (a row with the ground is a real constraint or
    dropped by ``Constraints``, its choice) and dropped from two-person answers (counted).
  * One person: a central part paired with itself ("head | head") is trivially true and dropped;
    "hand | hand" means the two hands and is kept.
  * Misspellings within a small edit distance of a known word are corrected ("sholder", "stomache",
    "haed"): words of 4 letters only by swapping two neighbours, 5-7 letters by one edit, 8 or more by
    two; only when exactly one word is that close. Corrections are counted.
  * Filler words (articles, "person", "upper", "inner", "area", ...) are ignored silently; every other
    word is unknown, dropped and counted.

Answers without a table are empty samples; when the text reads as a refusal ("I'm sorry, I can't
...") it is flagged as one. Refusals and garbage are still samples: they count in the mean over N.

The work per distinct cell and per distinct table row is cached (``functools.lru_cache``): a
dataset's answers repeat the same few dozen rows, so most rows cost a dictionary look-up.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
import warnings
from typing import Iterable, Sequence, Union

from posejax.body import vocabulary
from posejax.errors import InvalidInputError
from posejax.errors import PoseJaxWarning

Cell = Union[str, tuple[str, ...]]
Row = tuple[Cell, Cell]

# Canonical tokens the phrase rules produce for the two-word regions.
_SHOULDER_FRONT = "shoulderfront"
_SHOULDER_BACK = "shoulderback"
_WAIST_FRONT = "waistfront"
_WAIST_BACK = "waistback"
_LOWER_BACK = "lowerback"

SYNONYMS: dict[str, tuple[str, ...]] = {
    # The vocabulary's own words.
    "head": ("head",), "neck": ("neck",), "chest": ("chest",), "stomach": ("stomach",),
    "waist": ("waist",), "back": ("back",), "butt": ("butt",), "hand": ("hand",), "arm": ("arm",),
    "foot": ("foot",), "leg": ("leg",), "shoulder": ("shoulder",), "ground": (vocabulary.GROUND,),
    _SHOULDER_FRONT: ("shoulder (front)",), _SHOULDER_BACK: ("shoulder (back)",),
    _WAIST_FRONT: ("waist (front)",), _WAIST_BACK: ("waist (back)",),
    # Lower back: inside "waist (back)" for two people (the prompt offers it); "back" for one person
    # (see _ONE_PERSON_WORDS).
    _LOWER_BACK: ("waist (back)",),
    # Hand: the palm, fingers and fist are all on the hand region.
    "palm": ("hand",), "finger": ("hand",), "fingertip": ("hand",), "thumb": ("hand",),
    "fist": ("hand",), "knuckle": ("hand",),
    # Wrist: the joint between the hand and forearm regions; either may be the one touched.
    "wrist": ("hand", "arm"),
    # Arm: everything between the shoulder and the wrist.
    "forearm": ("arm",), "elbow": ("arm",), "bicep": ("arm",), "biceps": ("arm",), "tricep": ("arm",),
    "triceps": ("arm",),
    # Armpit: between the upper arm and the side of the chest.
    "armpit": ("arm", "chest"),
    # Foot: toes, heel and sole are on the foot region.
    "toe": ("foot",), "heel": ("foot",), "sole": ("foot",), "instep": ("foot",),
    # Ankle: between the foot and shin regions.
    "ankle": ("foot", "leg"),
    # Leg: thigh, knee, shin and calf are all on the leg region; a lap is the top of the thighs (one
    # leg is claimed, not both: sitting across a lap may touch only one).
    "thigh": ("leg",), "knee": ("leg",), "shin": ("leg",), "calf": ("leg",), "lap": ("leg",),
    # Waist: the hips and pelvis are the band the waist region covers; the groin is its front.
    "hip": ("waist",), "pelvis": ("waist",), "groin": (_WAIST_FRONT,), "crotch": (_WAIST_FRONT,),
    # Stomach: the belly in every word for it.
    "belly": ("stomach",), "abdomen": ("stomach",), "abs": ("stomach",), "tummy": ("stomach",),
    "midsection": ("stomach",), "midriff": ("stomach",), "abdominal": ("stomach",),
    # Chest: the front of the rib cage.
    "breast": ("chest",), "pec": ("chest",), "pecs": ("chest",), "pectoral": ("chest",),
    "sternum": ("chest",), "ribs": ("chest",), "rib": ("chest",), "ribcage": ("chest",),
    "bosom": ("chest",),
    # Torso: says only "the trunk"; any of its regions may be meant.
    "torso": ("chest", "stomach", "back"), "trunk": ("chest", "stomach", "back"),
    # Back: the spine and upper back lie in the back region.
    "spine": ("back",),
    # Shoulder blade is the back of the shoulder; the collarbone its front.
    "collarbone": (_SHOULDER_FRONT,), "clavicle": (_SHOULDER_FRONT,),
    # Neck: its front and back.
    "throat": ("neck",), "nape": ("neck",),
    # Head: the face and everything on it.
    "face": ("head",), "forehead": ("head",), "cheek": ("head",), "chin": ("head",), "jaw": ("head",),
    "mouth": ("head",), "lip": ("head",), "nose": ("head",), "ear": ("head",), "eye": ("head",),
    "temple": ("head",), "hair": ("head",), "scalp": ("head",), "skull": ("head",),
    # Butt: every word for it ("rear" only after the phrase rules took "rear shoulder").
    "buttock": ("butt",), "buttocks": ("butt",), "bottom": ("butt",), "glute": ("butt",),
    "glutes": ("butt",), "bum": ("butt",), "backside": ("butt",), "rear": ("butt",),
    # Ground: whatever the person stands, sits or lies on.
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

_ONE_PERSON_NAMES: dict[str, str] = {
    "shoulder (front)": "shoulder",
    "shoulder (back)": "shoulder",
}
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
_SEPARATOR_CELL = re.compile(r"^\s*:?-{2,}:?\s*$|^\s*:?—+:?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclasses.dataclass(frozen=True)
class DroppedRow:
  """A table row that produced no constraint.

  Attributes:
    text: the row as written.
    reason: why it was dropped, a short fixed phrase (e.g. "no known part in cell 2").
  """

  text: str
  reason: str


@dataclasses.dataclass(frozen=True)
class ParsedAnswer:
  """One answer turned into rows, with what was left out and why.

  Attributes:
    rows: the constraint rows ``(cell_1, cell_2)``; a cell is a name or a tuple of alternatives.
    dropped: rows of the table that gave no constraint, each with its reason.
    unknown_words: words no rule recognised, in order of appearance (dropped).
    corrected_words: ``(as written, read as)`` for each misspelling corrected.
    sides_dropped: left/right words that did not reach the output.
    table_found: whether a table was found at all.
    declared_empty: no row, and the answer said there is no contact (an empty table, "none" rows,
      or words such as "no contact" / "they are not touching").
    refusal: no row, not ``declared_empty``, and the text reads as a refusal.
    tables_ignored: further tables that were not used.
    other_prompt: the answer reads as written for the other prompt (a "Body Part A | B" table or
      ground contact in a two-person answer; a "Person 1 | Person 2" table in a one-person answer).
  """

  rows: tuple[Row, ...] = ()
  dropped: tuple[DroppedRow, ...] = ()
  unknown_words: tuple[str, ...] = ()
  corrected_words: tuple[tuple[str, str], ...] = ()
  sides_dropped: int = 0
  table_found: bool = False
  declared_empty: bool = False
  refusal: bool = False
  tables_ignored: int = 0
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
  """Diagnostics over the answers of one image (or any set of answers).

  The empty answers fall in exactly one of four kinds: ``empty_answers == declared_empty + refusals +
  no_table + unreadable``.

  Attributes:
    answers: how many answers were parsed.
    empty_answers: answers that gave no row.
    declared_empty: empty answers that said there is no contact.
    refusals: empty answers that read as refusals.
    no_table: other empty answers without any table.
    unreadable: other empty answers whose table had rows, none of them usable.
    other_prompt: answers that read as written for the other prompt (one person vs two).
    rows_kept: rows given to ``Constraints``, summed over answers.
    rows_dropped: reason -> count of dropped rows.
    unknown_words: word -> count of unknown (dropped) words.
    corrected_words: ``"as written -> read as"`` -> count.
    sides_dropped: left/right words ignored, summed over answers.
  """

  answers: int = 0
  empty_answers: int = 0
  declared_empty: int = 0
  refusals: int = 0
  no_table: int = 0
  unreadable: int = 0
  other_prompt: int = 0
  rows_kept: int = 0
  rows_dropped: dict[str, int] = dataclasses.field(default_factory=dict)
  unknown_words: dict[str, int] = dataclasses.field(default_factory=dict)
  corrected_words: dict[str, int] = dataclasses.field(default_factory=dict)
  sides_dropped: int = 0

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
# Words


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
class _CellWords:
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
def _read_cell(raw: str, people: int, fuzzy: bool) -> _CellWords:
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
      known = word
      if (word not in SYNONYMS and word not in _PLURALS and word not in _SUB_PART_PLURALS
          and word not in _SIDE_WORDS and word not in _BOTH_WORDS):
        if word not in _FILLER_WORDS and word not in _EMPTY_WORDS and len(word) >= 2:
          unknown.append(word)
        continue
      if known in _SIDE_WORDS:
        if side is not None:
          stray_sides += 1
        side = _SIDE_WORDS[known]
        continue
      if known in _BOTH_WORDS:
        both = True
        continue
      plural = both
      if known in _PLURALS:
        known, plural = _PLURALS[known], True
      elif known in _SUB_PART_PLURALS:
        known = _SUB_PART_PLURALS[known]
      for name in _expand(known, people):
        mentions.append(_Mention(name=name, side=side, plural=plural))
      side, both = None, False
    if side is not None:
      stray_sides += 1
  is_empty = not mentions and (not any_word or only_empty_words)
  return _CellWords(tuple(mentions), tuple(unknown), tuple(corrected), stray_sides, is_empty)


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


def _is_plural_cell(mentions: Sequence[_Mention], trust_sides: bool) -> bool:
  return any(m.plural and vocabulary.is_lateral(m.name) and not (trust_sides and m.side)
             for m in mentions)


def _side_words_dropped(mentions: Sequence[_Mention], trust_sides: bool) -> int:
  return sum(1 for m in mentions if m.side is not None
             and not (trust_sides and vocabulary.is_lateral(m.name)))


@dataclasses.dataclass(frozen=True)
class _RowOutcome:
  rows: tuple[Row, ...]            # constraint rows of this table row (before duplicate removal)
  drops: tuple[str, ...]           # reasons for what of it was dropped
  unknown: tuple[str, ...]
  corrected: tuple[tuple[str, str], ...]
  sides_dropped: int
  empty_marker: bool               # "none | none": the table says there is no contact


@dataclasses.dataclass(frozen=True)
class _CellNames:
  """One cell read as a row's side: what ``_read_row`` needs of it, worked out once per cell."""
  words: _CellWords
  mentions: tuple[_Mention, ...]   # two people: ground mentions left out
  had_ground: bool                 # two people: a ground mention was left out
  sides_dropped: int               # side words of the mentions that do not reach the output
  plural: bool                     # a plural lateral part: the row splits into left and right
  side_free: Cell | None           # the cell's names, plural parts side-free (None: no mentions)
  sided: tuple[Cell, ...]          # the same with plural parts on the left, then on the right


@functools.lru_cache(maxsize=65536)
def _read_cell_names(raw: str, people: int, trust_sides: bool, fuzzy: bool) -> _CellNames:
  words = _read_cell(raw, people, fuzzy)
  mentions = words.mentions
  had_ground = people == 2 and any(m.name == vocabulary.GROUND for m in mentions)
  if had_ground:
    mentions = tuple(m for m in mentions if m.name != vocabulary.GROUND)
  side_free, sided = None, ()
  if mentions:
    side_free = _cell(_names_of(mentions, None, trust_sides))
    sided = tuple(_cell(_names_of(mentions, side, trust_sides)) for side in vocabulary.SIDES)
  return _CellNames(words, mentions, had_ground, _side_words_dropped(mentions, trust_sides),
                    _is_plural_cell(mentions, trust_sides), side_free, sided)


@functools.lru_cache(maxsize=65536)
def _read_row(first: str, second: str, people: int, trust_sides: bool,
              fuzzy: bool) -> _RowOutcome:
  """One table row's two cells to constraint rows (cached: the same rows recur across answers)."""
  cells = (_read_cell_names(first, people, trust_sides, fuzzy),
           _read_cell_names(second, people, trust_sides, fuzzy))
  read = (cells[0].words, cells[1].words)
  unknown = read[0].unknown + read[1].unknown
  corrected = read[0].corrected + read[1].corrected
  sides = read[0].stray_sides + read[1].stray_sides

  def outcome(rows=(), drops=(), empty_marker=False):
    return _RowOutcome(tuple(rows), tuple(drops), unknown, corrected, sides, empty_marker)

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
  words = [w for c in cells for w in _WORD.findall(_clean(c))]
  if not words:
    return False
  return all(w in _HEADER_WORDS for w in words) and any(
      w in ("person", "part", "parts", "body", "persons", "region", "limb") for w in words)


@functools.lru_cache(maxsize=4096)
def _header_columns(header: tuple[str, ...]) -> tuple[int, ...]:
  chosen = []
  for index, cell in enumerate(header):
    words = set(_WORD.findall(_clean(cell)))
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
      if _read_cell(cell, people, fuzzy).mentions:
        scores[index] += 1
  best = sorted((i for i in scores if scores[i] > 0), key=lambda i: (-scores[i], i))[:2]
  if len(best) < 2:
    return 0, 1
  return min(best), max(best)


def _strip_fences(text: str) -> list[str]:
  if "\r" in text:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
  lines = text.split("\n")
  if "```" not in text and "~~~" not in text:
    return lines
  return [line for line in lines if not _FENCE.match(line)]


def parse_answer(text: str, people: int, *, trust_sides: bool = False,
                 fuzzy: bool = True) -> ParsedAnswer:
  """Turns one model answer into constraint rows; never raises.

  Args:
    text: the answer, verbatim (anything that is not a string parses as an empty answer).
    people: 2 (rows are Person 1 part, Person 2 part) or 1 (the two touching parts).
    trust_sides: keep "left"/"right" written in the answer instead of dropping them (False: the
      published behaviour; True: the loss honours the written sides).
    fuzzy: correct misspellings within a small edit distance.

  Returns:
    The ``ParsedAnswer``; ``rows`` is empty for refusals, empty tables and answers without a table.

  Raises:
    InvalidInputError: only for a ``people`` other than 1 or 2; never because of the text.
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
  naming = [t for t in tables if any(_read_cell(c, people, fuzzy).mentions
                                     for line in t.rows for c in _split_cells(line))]
  return naming or [tables[-1]]


def _chosen_tables(read: list["_ReadTable"]) -> list["_ReadTable"]:
  """The tables an answer means: its last table of contacts between parts (an earlier one is a
  draft it corrected), and its last table of contacts with the ground, which complements rather
  than replaces it (one person: "hand | foot", then "butt | ground")."""
  if len(read) <= 1:
    return read

  def with_ground(table):
    return bool(table.rows) and all(vocabulary.GROUND in _names_in(row) for row in table.rows)

  parts = [t for t in read if not with_ground(t)]
  ground = [t for t in read if with_ground(t)]
  chosen = {id(t) for t in (parts[-1:] + ground[-1:])}
  return [t for t in read if id(t) in chosen]


def _names_in(row: Row) -> tuple[str, ...]:
  return tuple(name for cell in row for name in ((cell,) if isinstance(cell, str) else cell))


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
      if all(_read_cell(c, people, fuzzy).is_empty for c in cells):
        empty_markers += 1
      else:
        dropped.append(DroppedRow(line.strip(), "too few cells"))
      continue
    outcome = _read_row(cells[first], cells[second], people, trust_sides, fuzzy)
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
  words = {w for cell in header or () for w in _WORD.findall(_clean(cell))}
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
