"""The coarse body-part vocabulary the language model speaks, and how it resolves to regions.

Three layers of names:

* Prompt parts: the words the prompts allow. Two people: 14 parts; one person: 10 parts. None of
  them names a side, because language models confuse left and right.
* Lateral parts: prompt parts that exist once per side (``hand``, ``arm``, ...). In a constraint a
  side-free lateral part becomes a chirality variable that the contact loss minimises over.
* Resolved regions: the 23 names a vertex set exists for, e.g. ``"left hand"`` or ``"back"``.
  Left and right are the body's own anatomical sides, never the viewer's.

``GROUND`` is not a body region: a one-person answer may say a part touches the ground. The
reference drops such rows; posejax keeps them as a constraint against a ground plane where the
caller asks for it.
"""

from __future__ import annotations

from posejax.errors import InvalidInputError

LEFT = "left"
RIGHT = "right"
SIDES = (LEFT, RIGHT)

LATERAL_PARTS: tuple[str, ...] = (
    "hand", "arm", "foot", "leg", "shoulder", "shoulder (front)", "shoulder (back)")
"""Parts that exist once per side of the body."""

CENTRAL_REGIONS: tuple[str, ...] = (
    "head", "neck", "chest", "stomach", "waist", "waist (front)", "waist (back)", "back", "butt")
"""Side-free regions. ``back`` holds the back of the shoulders, the lower back and the back of the
neck; ``waist`` and ``stomach`` overlap on the lower belly (as in the reference's region map)."""

RESOLVED_REGIONS: tuple[str, ...] = tuple(
    f"{side} {part}" for part in LATERAL_PARTS for side in SIDES
) + CENTRAL_REGIONS
"""The 23 region names, in a fixed order: index ``i`` of any region table means this name."""

REGION_INDEX: dict[str, int] = {name: i for i, name in enumerate(RESOLVED_REGIONS)}

TWO_PERSON_PARTS: tuple[str, ...] = (
    "head", "neck", "chest", "stomach", "waist (back)", "waist (front)", "back", "shoulder (back)",
    "shoulder (front)", "arm", "hand", "leg", "foot", "butt")
"""The 14 parts the two-person prompt allows."""

GROUND = "ground"

ONE_PERSON_PARTS: tuple[str, ...] = (
    "head", "back", "shoulder", "arm", "hand", "leg", "foot", "stomach", "butt", GROUND)
"""The 10 parts the one-person (self-contact) prompt allows."""


def is_lateral(part: str) -> bool:
  """True for a side-free lateral part such as ``"hand"``."""
  return part in LATERAL_PARTS


def sided(part: str, side: str) -> str:
  """The resolved region of a lateral part on one side: ``sided("hand", "left") == "left hand"``.

  Raises:
    InvalidInputError: a part that is not lateral, or a side other than "left" / "right".
  """
  if part not in LATERAL_PARTS:
    raise InvalidInputError(f"{part!r} is not a lateral part; lateral parts are {LATERAL_PARTS}")
  if side not in SIDES:
    raise InvalidInputError(f"side must be 'left' or 'right', got {side!r}")
  return f"{side} {part}"


def split_side(name: str) -> tuple[str | None, str]:
  """Splits ``"left hand"`` into ``("left", "hand")``; a central region gives ``(None, name)``."""
  for side in SIDES:
    prefix = side + " "
    if name.startswith(prefix) and name[len(prefix):] in LATERAL_PARTS:
      return side, name[len(prefix):]
  return None, name


def mirror(name: str) -> str:
  """The mirror region on the other side; central regions and side-free parts map to themselves."""
  side, part = split_side(name)
  if side is None:
    return name
  return sided(part, RIGHT if side == LEFT else LEFT)


MIRROR_INDEX: tuple[int, ...] = tuple(REGION_INDEX[mirror(n)] for n in RESOLVED_REGIONS)
"""``MIRROR_INDEX[i]`` is the index of the mirror image of region ``i``."""
