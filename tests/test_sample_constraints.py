"""Constraints for dataset samples: id lookup, constraints files, answer caches, the fallback."""

from __future__ import annotations

import numpy as np
import pytest

from posejax import lmm
from posejax.constraints import Constraints
from posejax.constraints import needs_fallback
from posejax.data import DatasetSample
from posejax.data import sample_constraints as sc
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError

TABLE = "| Person 1 Body Part | Person 2 Body Part |\n|---|---|\n| hand | back |\n| head | head |"
SELF_TABLE = "| Body Part | Body Part |\n|---|---|\n| hand | leg |"


def _sample(name, image_path="", people=2):
  return DatasetSample(keypoints=np.zeros((people, 25, 3)), init={}, gt=None, contact_pairs=None,
                       contact_map=None, name=name, image_path=image_path)


def test_image_ids_most_specific_first():
  sample = _sample("girls_250416_1", "/data/images/girls_250416.png")
  assert sc.image_ids(sample) == ("girls_250416_1", "girls_250416")
  chi3d = _sample("s03_Hug 1_000085_50591643_0", "/d/s03/Hug 1/50591643_000085.jpg")
  assert sc.image_ids(chi3d) == ("s03_Hug 1_000085_50591643_0", "s03_Hug 1_000085_50591643",
                                 "50591643_000085")
  assert sc.image_ids(_sample("", "")) == ()


def test_constraints_from_every_kind_of_source(tmp_path):
  from_file = lmm.parse([TABLE] * 3, 2)
  report = lmm.ParseReport(answers=3)
  path = tmp_path / "constraints.json"
  lmm.save_constraints_file(path, {"img_a": lmm.image_entry(
      from_file, report, samples=from_file.to_pairs(), prompt_version="p", model="m")})
  source = dict(lmm.load_constraints_file(path))
  direct = Constraints.from_pairs([[("arm", "arm")]], people=2)
  source["img_b_0"] = direct
  source["img_c"] = [TABLE, "I cannot tell.", TABLE]
  samples = [_sample("img_a_0", "/x/img_a.jpg"), _sample("img_b_0"), _sample("img_c_2"),
             _sample("img_d_0", "/x/img_d.jpg")]
  found = sc.constraints_for_samples(samples, source)
  assert found.sources == [sc.FROM_FILE, sc.FROM_FILE, sc.FROM_ANSWERS, sc.MISSING]
  assert found.matched_ids == ["img_a", "img_b_0", "img_c", ""]
  assert found.constraints[0].to_pairs() == from_file.to_pairs()
  assert found.constraints[1] is direct
  parsed = found.constraints[2].to_pairs()
  assert len(parsed) == 3 and parsed[1] == [] and len(parsed[0]) == 2
  fallback = [bool(needs_fallback(c)) for c in found.constraints]
  assert fallback == [False, False, False, True]
  # Stacking every sample to the common sizes gives one shape for the whole dataset.
  sizes = Constraints.largest_sizes(found.constraints)
  for key, value in sizes.items():
    assert value == max(c.sizes()[key] for c in found.constraints)
  stacked = Constraints.stack(found.constraints, **sizes)
  assert stacked.batch_shape == (4,) and stacked.sizes() == sizes


def test_one_person_answers_and_mismatches():
  one = [_sample("pose_YOGI_Cam_01_0001_0", people=1)]
  found = sc.constraints_for_samples(one, {"pose_YOGI_Cam_01_0001": [SELF_TABLE] * 4},
                                     min_frequency=2)
  assert found.sources == [sc.FROM_ANSWERS]
  assert int(found.constraints[0].min_frequency) == 2
  assert np.asarray(found.constraints[0].row_valid).any()
  missing = sc.constraints_for_samples(one, {})
  assert missing.constraints[0].people == 1 and bool(needs_fallback(missing.constraints[0]))
  with pytest.raises(InvalidInputError, match="for 2 people but sample"):
    sc.constraints_for_samples(one, {"pose_YOGI_Cam_01_0001": lmm.parse([TABLE], 2)})
  with pytest.raises(InvalidInputError, match="mix people counts"):
    sc.constraints_for_samples(one + [_sample("b")], {})
  with pytest.raises(InvalidInputError, match="are a int"):
    sc.constraints_for_samples([_sample("b")], {"b": 3})


def test_answers_by_image_from_a_cache(tmp_path):
  path = tmp_path / "answers.cache.jsonl"
  with lmm.AnswerCache(path) as cache:
    for index in range(3):
      cache.append("key-a1", f"a{index}", image_id="a", prompt_version="v1", model="gpt")
    cache.append("key-b1", "b0", image_id="b", prompt_version="v1", model="gpt")
    cache.append("key-a2", "other", image_id="a", prompt_version="v2", model="gpt")
    cache.append("key-x", "no id", prompt_version="v1", model="gpt")
  with pytest.raises(InvalidInputError, match="image 'a' under 2 different queries"):
    sc.answers_by_image(path)
  chosen = sc.answers_by_image(path, prompt_version="v1")
  assert chosen == {"a": ["a0", "a1", "a2"], "b": ["b0"]}
  assert sc.answers_by_image(path, prompt_version="v1", max_answers=2)["a"] == ["a0", "a1"]
  assert sc.answers_by_image(path, prompt_version="v2") == {"a": ["other"]}
  assert sc.answers_by_image(path, prompt_version="v1", model="other") == {}
  with lmm.AnswerCache(path) as cache:  # an open cache works too and stays open
    assert sc.answers_by_image(cache, prompt_version="v2") == {"a": ["other"]}
    assert len(cache) == 6
  with pytest.raises(FileFormatError, match="answer cache not found"):
    sc.answers_by_image(tmp_path / "none.jsonl")


def test_one_person_images_fall_back_only_when_nothing_passes_the_filter():
  # Issue 16, kept fixed: the fallback is decided after the frequency filter, and a ground table
  # after the self-contact table adds to it instead of replacing it.
  one = [_sample("pose_a_0", people=1)]
  parts = ["hand", "foot", "head", "back", "leg"]
  scattered = [f"| Body Part A | Body Part B |\n|---|---|\n| {parts[i % 5]} | "
               f"{parts[(i + 1) % 5]} |\n| {parts[i % 5]} | arm |\n" for i in range(20)]
  found = sc.constraints_for_samples(one, {"pose_a": scattered})  # threshold: 10 of 20
  cons = found.constraints[0]
  assert found.sources == [sc.FROM_ANSWERS]
  assert np.asarray(cons.sample_nonempty).sum() == 0 and not np.asarray(cons.row_valid).any()
  assert bool(needs_fallback(cons))
  self_then_ground = ("Seated forward bend.\n| Body Part A | Body Part B |\n|---|---|\n"
                      "| hand | foot |\n| head | leg |\n\nWith the ground:\n"
                      "| Body Part A | Body Part B |\n|---|---|\n| butt | ground |\n")
  cons = sc.constraints_for_samples(one, {"pose_a": [self_then_ground] * 20}).constraints[0]
  assert cons.to_pairs() == [[("hand", "foot"), ("head", "leg")]] * 20
  np.testing.assert_array_equal(np.asarray(cons.ground_rows)[:20], [1] * 20)
  assert np.asarray(cons.row_valid)[:20, :2].all()
  assert not bool(needs_fallback(cons))
