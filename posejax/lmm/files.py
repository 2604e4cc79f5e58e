"""The constraints file: every image's parsed answers, diagnostics and provenance in one JSON file.

Written by ``experiments/query_lmm.py`` and read by ``fit`` and the experiment scripts::

  {"format": "posejax.lmm_constraints", "version": 1,
   "images": {"<image id>": {
       "people": 2, "prompt_version": "two_person-1a2b3c4d5e6f", "model": "gpt-4o",
       "cache_key": "...", "answers": 20,
       "samples": [[["hand", "back"], [["back", "waist"], "arm"]], [], ...],
       "report": {... ParseReport.as_dict() ...},
       "fallback": false,
       "constraints": {... Constraints.to_json() ...}}}}

``samples`` are the parser's rows (a cell is a name or a list of alternatives; ground rows
included); ``constraints`` is what ``Constraints.from_json`` rebuilds.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Mapping

from posejax.errors import FileFormatError
from posejax.io_utils import atomic_write_text
from posejax.io_utils import check_format_header
from posejax.safe_load import load_json

FORMAT = "posejax.lmm_constraints"
VERSION = 1


@dataclasses.dataclass(frozen=True)
class ImageConstraints:
  """One image's entry of a constraints file."""

  image_id: str
  constraints: object  # the rebuilt ``Constraints``
  people: int
  prompt_version: str
  model: str
  fallback: bool  # the image keeps its baseline fit (``posejax.needs_fallback``)
  report: dict  # ``ParseReport.as_dict()``
  samples: list  # the parsed rows per answer, as written


def image_entry(constraints, report, *, samples, prompt_version: str, model: str,
                cache_key: str = "", answers: int | None = None) -> dict:
  """The JSON-ready entry of one image: its ``Constraints``, ``ParseReport``, parsed rows per
  answer and provenance; ``answers`` (default ``len(samples)``) is how many were parsed."""
  from posejax.constraints import json_rows  # the array layer, imported where it is used
  from posejax.constraints import needs_fallback

  return {
      "people": int(constraints.people),
      "prompt_version": prompt_version,
      "model": model,
      "cache_key": cache_key,
      "answers": len(samples) if answers is None else int(answers),
      "samples": json_rows(samples),
      "report": report.as_dict(),
      "fallback": bool(needs_fallback(constraints)),
      "constraints": json.loads(constraints.to_json()),
  }


def save_constraints_file(path: str | os.PathLike, entries: Mapping[str, dict]) -> None:
  """Writes the entries (image id -> ``image_entry``) atomically."""
  data = {"format": FORMAT, "version": VERSION, "images": dict(entries)}
  try:
    atomic_write_text(path, json.dumps(data, indent=1))
  except OSError as error:
    raise FileFormatError(path, f"cannot write the constraints file ({error})") from None


def load_constraints_file(path: str | os.PathLike) -> dict[str, ImageConstraints]:
  """Reads a constraints file.

  Returns:
    Image id -> ``ImageConstraints``, in the file's order.

  Raises:
    FileFormatError: missing, unreadable or malformed file.
  """
  from posejax.constraints import Constraints

  data = load_json(path, "constraints file", hint="write one with experiments/query_lmm.py")
  check_format_header(path, data, FORMAT, VERSION, "a constraints file")
  images = data.get("images")
  if not isinstance(images, dict):
    raise FileFormatError(path, "'images' must map image ids to entries")
  result = {}
  for image_id, entry in images.items():
    try:
      constraints = Constraints.from_json(json.dumps(entry["constraints"]), path=path)
      result[image_id] = ImageConstraints(
          image_id=image_id, constraints=constraints, people=int(entry["people"]),
          prompt_version=str(entry["prompt_version"]), model=str(entry["model"]),
          fallback=bool(entry["fallback"]), report=dict(entry.get("report") or {}),
          samples=list(entry.get("samples") or []))
    except (KeyError, TypeError, ValueError, OverflowError) as error:
      if isinstance(error, FileFormatError):
        raise
      raise FileFormatError(path, f"image {image_id!r}: malformed entry ({error!r})") from None
  return result
