"""posejax.fit with slots: continuous batching gives every scene the result of fitting it alone.

Six two-person scenes on the (synthetic) default body, with keypoint noise of different sizes so
that the early-stop rule fires at different steps (some scenes reach the stage-1 cap), one scene
with empty answers (the heuristic fallback), flow through two slots per stage, swapped every 10
steps.
"""

import dataclasses

import jax
import numpy as np
import pytest

import posejax
from posejax.body import BodyParams

SCENES = 6
CAP = 50  # stage-1 early stops fall on both sides of it with this slope


def _config():
  base = posejax.FitConfig.two_person(max_iters=CAP)
  # A steep stop rule, so that these short fits stop early, each at its own step.
  stages = lambda config: tuple(dataclasses.replace(s, early_stop_slope=3.0)
                                for s in config.stages)
  return base.replace(stages=stages(base), fallback=base.fallback.replace(
      stages=stages(base.fallback)))


@pytest.fixture(scope="module")
def setting():
  model = posejax.body.default_model()
  rng = np.random.default_rng(1)
  orient = np.tile([np.pi, 0, 0], (SCENES, 2, 1))
  transl = np.tile([[-0.5, 0, 4.0], [0.5, 0, 4.0]], (SCENES, 1, 1))
  init = BodyParams.create(model, (SCENES, 2), global_orient=orient, transl=transl,
                           body_pose=rng.normal(0, 0.1, (SCENES, 2, 63)))
  camera = posejax.camera.reference_camera(1000, 1000)
  truth = posejax.body.forward(model, init.replace(body_pose=init.body_pose * 0.5))
  projected = np.asarray(posejax.camera.project(
      camera, posejax.body.keypoints.smplx_to_body25(truth.joints)))
  noise = rng.uniform(-1, 1, (SCENES, 1, 1, 1)) * rng.uniform(0, 40, (SCENES, 2, 25, 2))
  keypoints = np.concatenate([projected + noise, np.ones((SCENES, 2, 25, 1))], -1)
  rows = [[("hand", "shoulder (front)")], [("hand", "hand")],
          [("back", "arm"), ("hand", "waist (back)")]]
  constraints = [posejax.Constraints.from_pairs([rows[i % 3]] * 4, people=2)
                 for i in range(SCENES)]
  constraints[2] = posejax.Constraints.from_pairs([[]], people=2)  # falls back
  fitter = posejax.Fitter.create(model, _config())
  alone = []
  for i in range(SCENES):
    one = lambda x, i=i: x[i:i + 1]
    alone.append(fitter(keypoints[one(np.arange(SCENES))], constraints[i:i + 1],
                        init=jax.tree_util.tree_map(one, init), camera=camera))
  return dict(model=model, fitter=fitter, keypoints=keypoints, constraints=constraints,
              init=init, camera=camera, alone=alone)


def test_streamed_scenes_equal_fitting_each_alone(setting):
  fitter = setting["fitter"]
  reports = []
  streamed = fitter(setting["keypoints"], setting["constraints"], init=setting["init"],
                    camera=setting["camera"], slots=2, chunk_size=10, progress=reports.append)
  alone = setting["alone"]
  iterations = np.array([np.asarray(a.iterations[0]) for a in alone])
  # The cases the test is about: scenes stopping at different steps, at the cap, a fallback.
  assert len(set(iterations[:, 0])) >= 4 and (iterations[:, 0] == CAP).any()
  converged = np.array([np.asarray(a.converged[0]) for a in alone])
  assert converged[:, 0].any() and not converged[:, 0].all()
  assert [bool(a.fell_back[0]) for a in alone] == [i == 2 for i in range(SCENES)]
  for i, single in enumerate(alone):
    for name in ("iterations", "converged", "fell_back", "keypoints_missing", "finite"):
      np.testing.assert_array_equal(getattr(streamed, name)[i], getattr(single, name)[0])
    np.testing.assert_allclose(streamed.stage_total[i], single.stage_total[0], rtol=1e-5)
    np.testing.assert_allclose(streamed.stage_terms[i], single.stage_terms[0], rtol=1e-5,
                               atol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(streamed.params),
                    jax.tree_util.tree_leaves(single.params)):
      np.testing.assert_allclose(a[i], b[0], rtol=1e-5, atol=1e-6)
  assert reports[-1]["finished"] == SCENES and reports[-1]["scenes"] == SCENES
  assert streamed.metadata["config"] == alone[0].metadata["config"]


def test_one_stage_loop_program_serves_both_pools_and_fit_at_the_slot_count(setting):
  fitter = setting["fitter"]
  first = lambda count: lambda x: x[:count]
  arguments = lambda count: dict(init=jax.tree_util.tree_map(first(count), setting["init"]),
                                 camera=setting["camera"])
  compiled = []

  def count(event, duration, fun_name="", **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
      compiled.append(fun_name)

  jax.monitoring.register_event_duration_secs_listener(count)
  try:
    fitter(setting["keypoints"][:4], setting["constraints"][:4], slots=3, **arguments(4))
    fitter(setting["keypoints"][:3], setting["constraints"][:3], **arguments(3))
    fitter(setting["keypoints"][:5], setting["constraints"][:5], slots=3, chunk_size=20,
           **arguments(5))
  finally:
    jax.monitoring.unregister_event_duration_listener(count)
  # No other test uses 3 scenes: exactly one compilation of the stage loop, for both pools and fit.
  assert [name for name in compiled if "advance" in name] == ["jit(advance)"], compiled


def test_bad_slot_counts_and_chunk_sizes_are_refused(setting):
  arguments = dict(init=setting["init"], camera=setting["camera"])
  for slots in (0, -1, 2.5, True):
    with pytest.raises(posejax.InvalidInputError, match="slots"):
      setting["fitter"](setting["keypoints"], None, slots=slots, **arguments)
  with pytest.raises(posejax.InvalidInputError, match="one scene axis"):
    setting["fitter"](setting["keypoints"][None], None, slots=2, **arguments)
  for chunk_size in (0, 1.5):  # also without slots, where 0 would never end a stage
    with pytest.raises(posejax.InvalidInputError, match="chunk_size"):
      setting["fitter"](setting["keypoints"], None, chunk_size=chunk_size, **arguments)
  with pytest.raises(posejax.InvalidInputError, match="sharding"):
    setting["fitter"](setting["keypoints"], None, slots=2, sharding=jax.devices()[0], **arguments)


def test_progress_true_logs_at_info_level(setting, caplog):
  fitter = setting["fitter"]
  one = lambda x: x[:1]
  with caplog.at_level("INFO", logger="posejax"):
    never_stops = _config().replace(stages=tuple(
        dataclasses.replace(s, early_stop_slope=0.0) for s in _config().stages))
    fitter(setting["keypoints"][:1], setting["constraints"][:1],
           init=jax.tree_util.tree_map(one, setting["init"]), camera=setting["camera"],
           progress=True, chunk_size=25, config=never_stops)
    fitter(setting["keypoints"][:2], setting["constraints"][:2],
           init=jax.tree_util.tree_map(lambda x: x[:2], setting["init"]),
           camera=setting["camera"], slots=1, chunk_size=25, progress=True)
  stage_lines = [r for r in caplog.records if r.name == "posejax.fitting"]
  assert stage_lines[0].getMessage().startswith("stage 1: iteration 25/50")
  # One line per chunk up to the cap: the final scoring step does not repeat the last line.
  reported = [r.getMessage().split(",")[0] for r in stage_lines]
  assert reported[:4] == ["stage 1: iteration 25/50", "stage 1: iteration 50/50",
                          "stage 2: iteration 25/50", "stage 2: iteration 50/50"], reported
  dataset_lines = [r for r in caplog.records if r.name == "posejax.streaming"
                   and "scenes done; running per stage" in r.getMessage()]
  assert stage_lines and dataset_lines
  assert {r.levelname for r in stage_lines + dataset_lines} == {"INFO"}


def test_device_copies_do_not_follow_later_host_writes():
  # The scheduler rewrites its slot tables in place between chunks; on CPU a large numpy array
  # handed to jnp.asarray can share its memory, and the queued chunk would read the new values.
  from posejax.streaming import _to_device

  for _ in range(20):
    host = np.zeros((1 << 18,), np.float32)  # 1 MiB: shared by jnp.asarray a third of the time
    device = _to_device({"slots": host})["slots"]
    host[:] = 1.0
    assert not bool(device.any())
