"""Contact constraints for dataset samples: each image's language-model answers, or the fallback.

The answers ``experiments/query_lmm.py`` collected (its constraints file or its answer cache) are
stored under the query's image id, a sample goes by its ``name`` (``<image stem>_<pair index>``
for FlickrCI3D); ``image_ids`` lists the ids a sample may go by, and the first one found wins.
An image without answers gets one empty sample, so ``fit`` gives it the config's fallback, as the
published method does when all answers are empty (``SampleConstraints.sources`` says which).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Mapping, Sequence

from posejax.constraints import Constraints
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError

FROM_FILE = "constraints"
"""Source label: the constraints file held the image's ``Constraints``."""
FROM_ANSWERS = "answers"
"""Source label: the image's answers were parsed here."""
MISSING = "missing"
"""Source label: no answers for the image; it gets the fallback."""

_PAIR_SUFFIX = re.compile(r"_\d+$")


def image_ids(sample: Any) -> tuple[str, ...]:
  """The ids an image's answers may be stored under, most specific first, without duplicates:
  the sample's ``name``, the name without a trailing ``_<number>`` (the readers' pair index), the
  image file's stem (``sample``: anything with ``name`` and ``image_path``)."""
  name = str(getattr(sample, "name", "") or "")
  path = str(getattr(sample, "image_path", "") or "")
  candidates = [name, _PAIR_SUFFIX.sub("", name), os.path.splitext(os.path.basename(path))[0]]
  return tuple(dict.fromkeys(c for c in candidates if c))


def answers_by_image(cache: Any, *, prompt_version: str | None = None, model: str | None = None,
                     max_answers: int | None = None) -> dict[str, list[str]]:
  """The cached answers of every image id in an answer cache (``posejax.lmm.AnswerCache``).

  Args:
    cache: the cache file (JSON Lines written by ``experiments/query_lmm.py``) or an open
      ``AnswerCache``.
    prompt_version: keep only answers to this prompt version (see ``posejax.lmm.prompt_for``).
    model: keep only answers of this model.
    max_answers: keep at most this many answers per image (the first ones), e.g. 20.

  Returns:
    image id -> answers, in the order they were stored.

  Raises:
    FileFormatError: the cache file does not exist or is malformed.
    InvalidInputError: an image has answers under several prompt versions, models or sampling
      settings; choose one with ``prompt_version`` / ``model``.
  """
  from posejax import lmm

  owned = not isinstance(cache, lmm.AnswerCache)
  if owned:
    path = os.fspath(cache)
    if not os.path.isfile(path):
      raise FileFormatError(path, "answer cache not found; it is the .jsonl file "
                            "experiments/query_lmm.py writes (--cache, default <out>.cache.jsonl)")
    cache = lmm.AnswerCache(path)
  try:
    grouped: dict[str, dict[str, list[str]]] = {}
    described: dict[str, str] = {}
    for key in cache.keys():
      for entry in cache.entries(key):
        record = entry.record
        if prompt_version is not None and record.get("prompt_version") != prompt_version:
          continue
        if model is not None and record.get("model") != model:
          continue
        image_id = record.get("image_id")
        if not isinstance(image_id, str) or not image_id:
          continue
        grouped.setdefault(image_id, {}).setdefault(key, []).append(entry.answer)
        described[key] = (f"prompt {record.get('prompt_version')!r}, model "
                          f"{record.get('model')!r}, settings {record.get('settings')!r}")
  finally:
    if owned:
      cache.close()
  result = {}
  for image_id, by_key in grouped.items():
    if len(by_key) > 1:
      options = "; ".join(sorted(described[k] for k in by_key))
      raise InvalidInputError(
          f"the answer cache holds answers for image {image_id!r} under {len(by_key)} different "
          f"queries ({options}); choose one with prompt_version= and/or model=")
    answers = next(iter(by_key.values()))
    result[image_id] = answers if max_answers is None else answers[:max_answers]
  return result


@dataclasses.dataclass(frozen=True)
class SampleConstraints:
  """The constraints of a list of samples, in sample order.

  Attributes:
    constraints: one unbatched ``Constraints`` per sample.
    sources: per sample, ``FROM_FILE``, ``FROM_ANSWERS`` or ``MISSING``.
    matched_ids: per sample, the id its answers were found under ("" when missing).
  """

  constraints: list[Constraints]
  sources: list[str]
  matched_ids: list[str]


def empty_constraints(people: int) -> Constraints:
  """Constraints with a single empty answer: ``fit`` gives such an image the fallback."""
  return Constraints.from_pairs([[]], people=people)


def constraints_for_samples(samples: Sequence[Any], source: Mapping[str, Any], *,
                            min_frequency: int | None = None,
                            trust_sides: bool = False) -> SampleConstraints:
  """Finds each sample's answers in ``source`` and turns them into ``Constraints``.

  Args:
    samples: ``DatasetSample`` objects (all with the same number of people).
    source: image id -> one of: an ``ImageConstraints`` (``posejax.lmm.load_constraints_file``),
      a ``Constraints``, or the list of answer texts (``answers_by_image``), parsed here.
    min_frequency: one person: the frequency filter's threshold for parsed answers (the
      ``Constraints.from_pairs`` default, half the answers, when None).
    trust_sides: keep left/right written in parsed answers.

  Returns:
    ``SampleConstraints``; samples without answers get ``empty_constraints`` (the fallback).

  Raises:
    InvalidInputError: samples with different people counts, or answers for the wrong number
      of people.
  """
  people_counts = {int(s.num_people) for s in samples}
  if len(people_counts) > 1:
    raise InvalidInputError(f"samples mix people counts {sorted(people_counts)}; evaluate one- "
                            "and two-person samples separately")
  constraints, sources, matched = [], [], []
  for sample in samples:
    people = int(sample.num_people)
    found = next((i for i in image_ids(sample) if i in source), None)
    if found is None:
      constraints.append(empty_constraints(people))
      sources.append(MISSING)
      matched.append("")
      continue
    entry = source[found]
    if isinstance(entry, Constraints):
      item, label = entry, FROM_FILE
    elif hasattr(entry, "constraints") and isinstance(entry.constraints, Constraints):
      item, label = entry.constraints, FROM_FILE
    elif isinstance(entry, Sequence) and not isinstance(entry, (str, bytes)):
      from posejax import lmm  # parsing lives in the language-model layer
      item = lmm.parse([str(a) for a in entry], people, min_frequency=min_frequency,
                       trust_sides=trust_sides)
      label = FROM_ANSWERS
    else:
      raise InvalidInputError(f"answers for image {found!r} are a {type(entry).__name__}; "
                              "expected ImageConstraints, Constraints or a list of answer texts")
    if item.batch_shape:
      raise InvalidInputError(f"constraints for image {found!r} are batched "
                              f"{item.batch_shape}; expected one image's")
    if item.people != people:
      raise InvalidInputError(
          f"the answers for image {found!r} are for {item.people} people but sample "
          f"{sample.name!r} has {people}; was the other prompt used?")
    constraints.append(item)
    sources.append(label)
    matched.append(found)
  return SampleConstraints(constraints=constraints, sources=sources, matched_ids=matched)
