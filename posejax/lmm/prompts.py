"""The instructions sent to the language model, versioned so that every cached answer names its prompt.

Two prompts, following the structure of the published method (METHOD.md, "Prompts"):

* two people: which body parts of Person 1 touch which body parts of Person 2, from the 14 allowed
  parts, no left or right, reasoning first and then a two-column Markdown table;
* one person (self-contact, yoga): which parts of the person touch each other or the ground, from the
  10 allowed parts, no left or right, first a description and the name of the pose, then the table.

The instruction is the system message; the user message carries only the image, or in the
text-only variants a written description. A prompt's ``version`` hashes its name and text, so cached
answers to an old wording are never mixed with a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib

from posejax.body import vocabulary
from posejax.errors import InvalidInputError

PERSON_1_COLUMN = "Person 1 Body Part"
PERSON_2_COLUMN = "Person 2 Body Part"
PART_A_COLUMN = "Body Part A"
PART_B_COLUMN = "Body Part B"


@dataclasses.dataclass(frozen=True)
class Prompt:
  """One versioned instruction for the language model."""

  name: str  # a stable label, e.g. "two_person" or "one_person_text"
  people: int  # the number of people the answers describe
  system: str  # the system message (the whole instruction)
  text_only: bool = False  # the user message is a written description instead of an image

  @property
  def version(self) -> str:
    """A 12-hex-digit hash of the name and the text; part of every cache key."""
    digest = hashlib.sha256(f"{self.name}\n{self.system}".encode("utf-8")).hexdigest()
    return f"{self.name}-{digest[:12]}"

  def user_content(self, *, image_b64: str | None = None, description: str | None = None,
                   detail: str = "high") -> list[dict] | str:
    """The user message's content: a list with one ``image_url`` part holding ``image_b64`` (a
    base64 JPEG, sent at ``detail`` "high", "low" or "auto") or, for a text-only prompt, the
    ``description``; ``InvalidInputError`` when the input does not match the kind of prompt."""
    if self.text_only:
      if not description or not description.strip():
        raise InvalidInputError(
            f"prompt {self.name!r} is text-only: pass a non-empty description, not an image")
      return f"Description of the image:\n{description.strip()}"
    if not image_b64:
      raise InvalidInputError(
          f"prompt {self.name!r} needs an image: pass image_b64 (see posejax.lmm.prepare_image)")
    return [{
        "type": "image_url",
        "image_url": {"url": f"data:image/jpeg;base64,{image_b64}", "detail": detail},
    }]

  def messages(self, *, image_b64: str | None = None, description: str | None = None,
               detail: str = "high") -> list[dict]:
    """The chat messages of one request: the system instruction, then the user content."""
    return [
        {"role": "system", "content": self.system},
        {"role": "user", "content": self.user_content(
            image_b64=image_b64, description=description, detail=detail)},
    ]


def _two_person_text(text_only: bool) -> str:
  source = ("a written description of a photograph" if text_only else "a photograph")
  look = "From the description" if text_only else "Look at the image"
  return f"""You will be given {source} in which two people are in physical contact with each other.
Your job is to find every pair of body parts where a part of one person touches a part of the other.

Call one of the two people "Person 1" and the other "Person 2"; you may choose which is which, but
keep the choice fixed for the whole answer.

Use only these body part names, spelled exactly like this:
{", ".join(vocabulary.TWO_PERSON_PARTS)}.

Do not write "left" or "right" and do not add any other words to a part name: sides are easy to get
wrong and are worked out later from the image geometry.

{look} and first reason step by step, in a few sentences, about how the two people are posed and where
their bodies meet. After that, write a Markdown table with exactly two columns, "{PERSON_1_COLUMN}" and
"{PERSON_2_COLUMN}", with one row for each pair of parts that touch. List every pair you are confident
about and leave out pairs you are unsure of. If no parts touch, write the table with its header and no
rows. Write nothing after the table."""


def _one_person_text(text_only: bool) -> str:
  source = ("a written description of a photograph" if text_only else "a photograph")
  look = "From the description" if text_only else "Look at the image"
  return f"""You will be given {source} of one person, often in a yoga or exercise pose.
Your job is to find every pair of body parts of this person that touch each other, and every body part
that touches the ground.

Use only these names, spelled exactly like this:
{", ".join(vocabulary.ONE_PERSON_PARTS)}.

Do not write "left" or "right" and do not add any other words to a part name: sides are easy to get
wrong and are worked out later from the image geometry. Write "hand | hand" when the two hands touch
each other, and likewise for the other parts.

{look} and first describe the pose in a few sentences and give its name if it has one. After that,
write a Markdown table with exactly two columns, "{PART_A_COLUMN}" and "{PART_B_COLUMN}", with one row for
each pair of parts that touch. List every pair you are confident about and leave out pairs you are unsure
of. If no parts touch, write the table with its header and no rows. Write nothing after the table."""


TWO_PERSON = Prompt(name="two_person", people=2, system=_two_person_text(False))
"""Image prompt for two people in contact (14 parts, Person 1 / Person 2 table)."""

TWO_PERSON_TEXT = Prompt(name="two_person_text", people=2, system=_two_person_text(True),
                         text_only=True)
"""Text-only variant of ``TWO_PERSON``: the user message is a description of the scene."""

ONE_PERSON = Prompt(name="one_person", people=1, system=_one_person_text(False))
"""Image prompt for one person's self-contact and ground contact (10 parts)."""

ONE_PERSON_TEXT = Prompt(name="one_person_text", people=1, system=_one_person_text(True),
                         text_only=True)
"""Text-only variant of ``ONE_PERSON``."""


def prompt_for(people: int, *, text_only: bool = False) -> Prompt:
  """The standard prompt for one or two people.

  Args:
    people: 1 (self-contact) or 2 (two people in contact).
    text_only: choose the variant that takes a description instead of an image.

  Raises:
    InvalidInputError: when ``people`` is neither 1 nor 2.
  """
  if people == 2:
    return TWO_PERSON_TEXT if text_only else TWO_PERSON
  if people == 1:
    return ONE_PERSON_TEXT if text_only else ONE_PERSON
  raise InvalidInputError(f"people must be 1 or 2, got {people!r}")
