"""Tests of posejax.lmm.prompts: content, versions, messages."""

from __future__ import annotations

import dataclasses

import pytest

from posejax.body import vocabulary
from posejax.errors import InvalidInputError
from posejax.lmm import prompts


@pytest.mark.parametrize("prompt, parts", [
    (prompts.TWO_PERSON, vocabulary.TWO_PERSON_PARTS),
    (prompts.TWO_PERSON_TEXT, vocabulary.TWO_PERSON_PARTS),
    (prompts.ONE_PERSON, vocabulary.ONE_PERSON_PARTS),
    (prompts.ONE_PERSON_TEXT, vocabulary.ONE_PERSON_PARTS),
])
def test_prompt_lists_the_parts_and_the_rules(prompt, parts):
  text = prompt.system
  assert ", ".join(parts) in text
  assert '"left" or "right"' in text
  assert "Markdown table" in text
  # Reasoning comes before the table.
  assert text.index("first") < text.index("Markdown table")
  columns = ((prompts.PERSON_1_COLUMN, prompts.PERSON_2_COLUMN) if prompt.people == 2
             else (prompts.PART_A_COLUMN, prompts.PART_B_COLUMN))
  assert all(c in text for c in columns)


def test_versions_are_stable_distinct_and_follow_the_text():
  all_prompts = [prompts.TWO_PERSON, prompts.TWO_PERSON_TEXT, prompts.ONE_PERSON,
                 prompts.ONE_PERSON_TEXT]
  assert len({p.version for p in all_prompts}) == 4
  assert prompts.TWO_PERSON.version.startswith("two_person-")
  edited = dataclasses.replace(prompts.TWO_PERSON, system=prompts.TWO_PERSON.system + " ")
  assert edited.version != prompts.TWO_PERSON.version
  assert dataclasses.replace(prompts.TWO_PERSON).version == prompts.TWO_PERSON.version


def test_image_messages_carry_only_the_image():
  system, user = prompts.TWO_PERSON.messages(image_b64="QUJD")
  assert system == {"role": "system", "content": prompts.TWO_PERSON.system}
  assert user == {"role": "user", "content": [{"type": "image_url", "image_url": {
      "url": "data:image/jpeg;base64,QUJD", "detail": "high"}}]}
  with pytest.raises(InvalidInputError, match="needs an image"):
    prompts.TWO_PERSON.messages(description="a hug")


def test_text_only_messages_carry_the_description():
  _, user = prompts.ONE_PERSON_TEXT.messages(description="  a person in tree pose ")
  assert user == {"role": "user", "content": "Description of the image:\na person in tree pose"}
  assert "written description" in prompts.ONE_PERSON_TEXT.system
  with pytest.raises(InvalidInputError, match="description"):
    prompts.ONE_PERSON_TEXT.messages(image_b64="QUJD")


def test_prompt_for():
  assert prompts.prompt_for(2) is prompts.TWO_PERSON
  assert prompts.prompt_for(1, text_only=True) is prompts.ONE_PERSON_TEXT
  with pytest.raises(InvalidInputError, match="people"):
    prompts.prompt_for(3)
