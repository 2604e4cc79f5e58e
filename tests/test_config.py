"""FitConfig presets carry the published settings; edits and serialisation keep them intact."""

import dataclasses

import pytest

from posejax.config import FitConfig
from posejax.config import LossWeights
from posejax.errors import InvalidInputError


def test_two_person_published_preset_is_the_paper_setting():
  config = FitConfig.two_person(published=True)
  first, second = config.stages
  assert first.optimize == ("body_pose", "betas", "transl")
  assert second.optimize == ("body_pose", "transl")
  assert (first.learning_rate, second.learning_rate) == (0.01, 0.001)
  assert first.max_iters == second.max_iters == 1000
  assert first.weights == LossWeights(keypoints=0.04, contact=1000, pose_prior=4, init_pose=200,
                                      shape=40)
  assert second.weights == LossWeights(keypoints=0.1, contact=1000, pose_prior=4, init_pose=200,
                                       penetration=1000)
  assert first.early_stop_window == 20 and first.early_stop_slope == 1e-4
  assert config.fallback.name == "heuristic"
  assert config.fallback.stages[0].weights.proximity == 1e4
  assert config.fallback.stages[0].weights.contact == 0


def test_two_person_default_adds_only_the_placement_anchor_to_the_published_setting():
  """In the main stages and in the heuristic fallback alike."""
  default, published = FitConfig.two_person(), FitConfig.two_person(published=True)
  for ours, paper in zip(default.stages, published.stages):
    assert ours.weights == paper.weights.replace(init_placement=1000.0)
    assert dataclasses.replace(ours, weights=paper.weights) == paper
  assert default.fallback.stages == published.fallback.with_weights(init_placement=1000.0).stages
  assert default.name != published.name
  assert default.with_weights(init_placement=0.0).fallback.stages == published.fallback.stages


def test_one_person_preset_uses_the_moyo_weights():
  first, second = FitConfig.one_person().stages
  assert first.weights.contact == 1e4 and second.weights.contact == 100
  published = FitConfig.one_person(published=True).stages
  assert published[0].weights.contact == published[1].weights.contact == 1e4
  assert first.weights.init_pose == second.weights.init_pose == 1600
  assert published[0].weights.init_pose == published[1].weights.init_pose == 400
  assert first.weights.pose_prior == 0
  # The fit without contact is weighted as the preset it is compared with.
  assert FitConfig.no_contact(1).stages[0].weights.init_pose == 1600
  assert FitConfig.one_person(published=True).fallback.stages[1].weights.init_pose == 400
  assert first.weights.keypoints == 0.04 and second.weights.keypoints == 0.1


def test_ablation_zeroes_a_term_in_every_stage_and_drops_it_from_the_program():
  config = FitConfig.two_person().with_weights(contact=0.0)
  assert all(s.weights.contact == 0 for s in config.stages)
  assert "contact" not in config.active_terms()
  assert "proximity" in config.active_terms()  # the fallback preset still needs it
  assert FitConfig.two_person().with_weights(penetration=0.0).fallback.stages[1].weights.penetration == 0


def test_per_stage_weights_and_caps():
  config = FitConfig.two_person().with_weights(penetration=(0.0, 50.0)).with_max_iters(10, 20)
  assert [s.weights.penetration for s in config.stages] == [0.0, 50.0]
  assert [s.max_iters for s in config.stages] == [10, 20]
  assert [s.max_iters for s in config.fallback.stages] == [10, 20]
  relative = FitConfig.two_person().with_early_stop_relative(1e-5, 0.0)
  assert [s.early_stop_relative for s in relative.stages] == [1e-5, 0.0]
  assert [s.early_stop_relative for s in relative.fallback.stages] == [1e-5, 0.0]
  assert relative.structure() == FitConfig.two_person().structure()  # traced: no new program


def test_round_trip_through_dict():
  config = FitConfig.two_person().with_max_iters(7)
  assert FitConfig.from_dict(config.to_dict()) == config


def test_bad_configs_are_refused_with_a_clear_message():
  with pytest.raises(InvalidInputError, match="people"):
    FitConfig(people=3, stages=FitConfig.two_person().stages)
  with pytest.raises(InvalidInputError, match="stage structure"):
    FitConfig.two_person().replace(fallback=FitConfig.heuristic(max_iters=5))
  with pytest.raises(InvalidInputError, match="unknown loss term"):
    FitConfig.two_person().with_weights(lmm=0.0)


def test_preset_for_people():
  assert FitConfig.for_people(2) == FitConfig.two_person()
  assert FitConfig.for_people(1) == FitConfig.one_person()
  assert FitConfig.for_people(2, max_iters=60) == FitConfig.two_person().with_max_iters(60)
  assert FitConfig.for_people(1, max_iters=60) == FitConfig.one_person(max_iters=60)
  with pytest.raises(InvalidInputError, match="1 or 2 people"):
    FitConfig.for_people(3)
