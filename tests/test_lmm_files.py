"""Tests of posejax.lmm.files: the constraints file written by query_lmm and read by the fits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmm_answers import CORPUS
from posejax.errors import FileFormatError
from posejax.lmm import build
from posejax.lmm import files


def _entry(people, answers):
  samples, report = build.parse_samples(answers, people)
  constraints = build.parse(answers, people, min_frequency=1 if people == 1 else None)
  return files.image_entry(constraints, report, samples=samples, prompt_version="p-1", model="m",
                           cache_key="abc"), constraints


def test_round_trip(tmp_path):
  two, two_constraints = _entry(2, [c[2] for c in CORPUS if c[1] == 2])
  one, one_constraints = _entry(1, [c[2] for c in CORPUS if c[1] == 1])
  empty, _ = _entry(2, ["I'm sorry, I can't."])
  path = tmp_path / "out" / "constraints.json"
  files.save_constraints_file(path, {"a": two, "b": one, "c": empty})
  loaded = files.load_constraints_file(path)
  assert list(loaded) == ["a", "b", "c"]
  assert loaded["a"].constraints.to_pairs() == two_constraints.to_pairs()
  assert loaded["b"].constraints.to_pairs() == one_constraints.to_pairs()
  assert int(loaded["b"].constraints.min_frequency) == 1
  for name in ("variant_pairs", "row_valid", "ground_rows"):
    np.testing.assert_array_equal(np.asarray(getattr(loaded["b"].constraints, name)),
                                  np.asarray(getattr(one_constraints, name)))
  assert loaded["a"].people == 2 and loaded["b"].people == 1
  assert loaded["a"].prompt_version == "p-1" and loaded["a"].model == "m"
  assert loaded["a"].report["refusals"] == 1
  assert (loaded["a"].fallback, loaded["c"].fallback) == (False, True)
  # Samples keep the ground rows that Constraints drops.
  assert ["left hand", "ground"] in loaded["b"].samples[0]
  assert not list(tmp_path.glob("out/*.tmp*"))


def test_bad_files_are_reported(tmp_path):
  with pytest.raises(FileFormatError, match="not found"):
    files.load_constraints_file(tmp_path / "missing.json")
  bad = tmp_path / "bad.json"
  bad.write_text("{")
  with pytest.raises(FileFormatError, match="JSON"):
    files.load_constraints_file(bad)
  bad.write_text(json.dumps({"format": "other"}))
  with pytest.raises(FileFormatError, match="not a constraints file"):
    files.load_constraints_file(bad)
  bad.write_text(json.dumps({"format": files.FORMAT, "version": 1, "images": {"x": {}}}))
  with pytest.raises(FileFormatError, match="'x'"):
    files.load_constraints_file(bad)


def test_unreadable_files_say_how_to_get_one(tmp_path):
  with pytest.raises(FileFormatError, match="missing.json: constraints file not found; write one "
                     "with experiments/query_lmm.py"):
    files.load_constraints_file(tmp_path / "missing.json")
  bad = tmp_path / "bad.json"
  bad.write_bytes(b"\xff{")
  with pytest.raises(FileFormatError, match=r"bad.json: constraints file: not valid JSON "
                     r"\(UnicodeDecodeError: .*\); write one with experiments/query_lmm.py"):
    files.load_constraints_file(bad)
