"""posejax.fit end to end on the (synthetic) default body.

One two-person scene with a real contact (A's left hand on B's right hand) and a depth/size
ambiguity that 2D keypoints cannot resolve: B is taller than average and farther away, while the
initial estimate makes B average-sized and nearer (the same image). Only the contact tells the fit
where B stands. Four variants are fitted in ONE batch (one compilation):

0. the true contact in all 20 samples;
1. 20 samples, a third of them wrong;
2. NaN and zero-confidence keypoints, person B fully occluded;
3. all samples empty (falls back to the heuristic preset).

The default preset's init-placement term resists moving B along the depth; the published weights
move B all the way. Both are checked on scene 0, and the term's purpose on a scene whose initial
placement is right.
"""


import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import posejax
from posejax.body import BodyParams

ITERS = 150
IMAGE = (1024, 1024)


def _contact_gap(model, regions, params):
  vertices = posejax.body.forward(model, params).vertices
  a = vertices[0, regions.vertex_ids("left hand")]
  b = vertices[1, regions.vertex_ids("right hand")]
  d = a[:, None] - b[None]
  squared = jnp.sum(d * d, axis=-1)
  flat = int(jnp.argmin(squared))
  return float(jnp.sqrt(squared.reshape(-1)[flat])), np.asarray(d.reshape(-1, 3)[flat])


def _scene(model, regions):
  """Ground truth, keypoints and the ambiguous initial estimate of the hand-to-hand scene."""
  pose = np.zeros((2, 63))
  pose[0, 3 * 16 + 2] = -1.0  # A lowers its right arm
  pose[1, 3 * 15 + 2] = 1.0  # B lowers its left arm
  pose[0, 3 * 17 + 1] = 0.4  # the touching elbows bend a little
  pose[1, 3 * 16 + 1] = -0.4
  betas = np.zeros((2, model.num_betas))
  betas[1, 0] = 2.0  # B is bigger than average
  transl = np.array([[-0.8, 0.0, 4.0], [0.8, 0.0, 4.0]])
  orient = np.tile([np.pi, 0.0, 0.0], (2, 1))  # upright, facing the camera
  gt = BodyParams.create(model, (2,), global_orient=orient, transl=transl, body_pose=pose,
                         betas=betas)
  for _ in range(3):  # slide B until the hands touch
    _, offset = _contact_gap(model, regions, gt)
    transl[1] += offset
    gt = gt.replace(transl=jnp.asarray(transl, jnp.float32))
  camera = posejax.camera.reference_camera(*IMAGE)
  truth = posejax.body.forward(model, gt)
  projected = posejax.camera.project(camera, posejax.body.keypoints.smplx_to_body25(truth.joints))
  keypoints = np.concatenate([np.asarray(projected), np.ones((2, 25, 1))], axis=-1)
  # The regressor's view: B average-sized (betas 0) and nearer by their height ratio, so both
  # project alike.
  rest = posejax.body.forward(model, BodyParams.create(model, (2,), betas=betas)).vertices
  heights = np.ptp(np.asarray(rest[..., 1]), axis=-1)
  init_transl = transl.copy()
  init_transl[1] /= heights[1] / heights[0]
  noise = np.random.default_rng(0).normal(0.0, 0.1, (2, 63))
  init = gt.replace(body_pose=jnp.asarray(pose + noise, jnp.float32), betas=jnp.zeros((2, model.num_betas)),
                    transl=jnp.asarray(init_transl, jnp.float32))
  return gt, truth, keypoints, init, camera


def _stack(*trees):
  return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _pa_mpjpe(model, params, truth):
  joints = posejax.body.forward(model, params).joints[:, :22]
  return float(posejax.metrics.joint_pa_mpjpe(joints, truth.joints[:, :22])[0])


@pytest.fixture(scope="module")
def setting():
  model = posejax.body.default_model()
  regions = posejax.body.derive_regions(model)
  gt, truth, keypoints, init, camera = _scene(model, regions)
  good = [("hand", "hand")]
  wrong = [[("head", "back")], [("foot", "leg")], [("arm", "stomach")]]
  constraints = [
      posejax.Constraints.from_pairs([good] * 20, people=2),
      posejax.Constraints.from_pairs([good] * 13 + [wrong[i % 3] for i in range(7)], people=2),
      posejax.Constraints.from_pairs([good] * 20, people=2),
      posejax.Constraints.from_pairs([[]] * 20, people=2),
  ]
  damaged = keypoints.copy()
  damaged[0, 3:6, :2] = np.nan  # NaN coordinates
  damaged[0, 9, 2] = np.nan  # NaN confidence
  damaged[1, :, 2] = 0.0  # B fully occluded
  batch_kp = np.stack([keypoints, keypoints, damaged, keypoints])
  config = posejax.FitConfig.two_person(max_iters=ITERS)
  fitter = posejax.Fitter.create(model, config, regions=regions)
  inits = _stack(init, init, init, init)
  result = fitter(batch_kp, constraints, init=inits, camera=camera)
  return dict(model=model, regions=regions, gt=gt, truth=truth, init=init, camera=camera,
              fitter=fitter, constraints=constraints, keypoints=batch_kp, inits=inits,
              result=result)


def _scene_params(result, index):
  return jax.tree_util.tree_map(lambda x: x[index], result.params)


def test_true_contacts_are_reached_and_joint_error_drops(setting):
  model, regions, truth = setting["model"], setting["regions"], setting["truth"]
  fitted = _scene_params(setting["result"], 0)
  gap, _ = _contact_gap(model, regions, fitted)
  assert gap < 0.02
  before = _pa_mpjpe(model, setting["init"], truth)
  after = _pa_mpjpe(model, fitted, truth)
  assert after < 0.65 * before, (before, after)


def test_published_weights_move_the_far_person_all_the_way(setting):
  model, regions, truth = setting["model"], setting["regions"], setting["truth"]
  published = posejax.fit(setting["keypoints"][0], setting["constraints"][0], init=setting["init"],
                          model=model, camera=setting["camera"], regions=regions,
                          config=posejax.FitConfig.two_person(max_iters=ITERS, published=True))
  assert _contact_gap(model, regions, published.params)[0] < 0.02
  before = _pa_mpjpe(model, setting["init"], truth)
  after = _pa_mpjpe(model, published.params, truth)
  assert after < 0.5 * before, (before, after)
  # The init-placement term's cost: B starts 88 cm nearer than it is, and the default reaches.
  assert after < _pa_mpjpe(model, _scene_params(setting["result"], 0), truth)


def test_a_row_few_answers_name_cannot_slide_a_person_along_the_depth(setting):
  """3 of 20 answers add "head | head" to the true hand contact, on a scene whose initial placement
  is right: the published weights let that row slide B along the depth, the default holds B."""
  model, regions, truth, camera = setting["model"], setting["regions"], setting["truth"], \
      setting["camera"]
  gt = setting["gt"]
  init = setting["init"].replace(transl=gt.transl, betas=gt.betas)
  good = [("hand", "hand")]
  constraints = posejax.Constraints.from_pairs([good] * 17 + [good + [("head", "head")]] * 3,
                                               people=2)
  depth_slide, error = {}, {}
  for published in (True, False):
    result = posejax.fit(setting["keypoints"][0], constraints, init=init, model=model,
                         camera=camera, regions=regions,
                         config=posejax.FitConfig.two_person(max_iters=ITERS, published=published))
    transl = np.asarray(result.params.transl)
    depth_slide[published] = abs((transl[1, 2] - transl[0, 2]) - float(gt.transl[1, 2] - gt.transl[0, 2]))
    error[published] = _pa_mpjpe(model, result.params, truth)
    assert _contact_gap(model, regions, result.params)[0] < 0.02
  assert depth_slide[True] > 0.12, depth_slide
  assert depth_slide[False] < 0.5 * depth_slide[True], depth_slide
  assert error[False] < 0.7 * error[True], error


def test_noisy_answers_still_beat_fitting_without_contact(setting):
  model, truth = setting["model"], setting["truth"]
  without = posejax.fit(setting["keypoints"][:2], None, init=_stack(setting["init"], setting["init"]),
                        model=model, camera=setting["camera"],
                        config=posejax.FitConfig.no_contact(2, max_iters=ITERS),
                        regions=setting["regions"])
  noisy = _pa_mpjpe(model, _scene_params(setting["result"], 1), truth)
  plain = _pa_mpjpe(model, _scene_params(without, 0), truth)
  assert noisy < plain, (noisy, plain)


def test_missing_keypoints_and_an_occluded_person_give_finite_flagged_results(setting):
  result = setting["result"]
  for leaf in jax.tree_util.tree_leaves(result.params):
    assert np.all(np.isfinite(np.asarray(leaf)))
  assert np.all(np.isfinite(np.asarray(result.stage_terms)))
  np.testing.assert_array_equal(result.keypoints_missing,
                                [[False, False], [False, False], [False, True], [False, False]])


def test_empty_answers_fall_back_to_the_heuristic_in_the_same_batch(setting):
  result = setting["result"]
  np.testing.assert_array_equal(result.fell_back, [False, False, False, True])
  contact_weight = result.term("contact")  # unweighted: the empty scene's contact term is 0
  assert contact_weight[3] == 0.0
  # The fallen-back scene was pulled together by the heuristic term: its closest points meet.
  assert result.term("proximity")[3] < 1e-3


def test_reported_contact_term_is_the_exact_loss_at_the_final_parameters(setting):
  model, regions, result = setting["model"], setting["regions"], setting["result"]
  for scene in (0, 1):
    vertices = posejax.body.forward(model, _scene_params(result, scene)).vertices
    points = posejax.body.regions.sample_points(regions, vertices)
    exact = posejax.losses.contact.contact_loss(points[0], points[1], regions.sample_valid,
                                                setting["constraints"][scene])
    assert result.term("contact")[scene] == pytest.approx(float(exact), rel=1e-4, abs=1e-6)


def test_reruns_are_bit_identical_and_compile_nothing_new(setting):
  fitter = setting["fitter"]
  again = fitter(setting["keypoints"], setting["constraints"], init=setting["inits"],
                 camera=setting["camera"])
  for a, b in zip(jax.tree_util.tree_leaves(setting["result"]), jax.tree_util.tree_leaves(again)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  init_stage, advance = fitter.loop  # one program runs both stages
  assert init_stage._cache_size() == 1 and advance._cache_size() == 1


def test_result_round_trips_through_files(setting, tmp_path):
  result = setting["result"]
  npz, summary = result.save(tmp_path / "fit")
  loaded = posejax.FitResult.load(npz)
  np.testing.assert_array_equal(loaded.params.body_pose, result.params.body_pose)
  np.testing.assert_array_equal(loaded.fell_back, result.fell_back)
  assert loaded.metadata["synthetic_body"] is True
  assert '"scenes": 4' in open(summary).read()
  recorded = json.load(open(summary))
  assert recorded["config_settings"] == json.loads(json.dumps(result.metadata["config_settings"]))
  short = result.summary()
  assert "config_settings" not in short and len(json.dumps(short, indent=1).splitlines()) < 60


def test_bad_inputs_are_refused_with_clear_errors(setting):
  model, camera = setting["model"], setting["camera"]
  init = setting["init"]
  with pytest.raises(posejax.InvalidInputError, match="image_kp"):
    posejax.fit(np.zeros((2, 24, 3)), None, init=init, model=model, camera=camera)
  with pytest.raises(posejax.InvalidInputError, match="non-finite"):
    bad = init.replace(body_pose=init.body_pose.at[0, 0].set(jnp.nan))
    posejax.fit(setting["keypoints"][0], None, init=bad, model=model, camera=camera)
  with pytest.raises(posejax.InvalidInputError, match="camera or an image_size"):
    posejax.fit(setting["keypoints"][0], None, init=init, model=model)
  with pytest.raises(posejax.InvalidInputError, match="people"):
    posejax.fit(setting["keypoints"][0], None, init=init, model=model, camera=camera,
                config=posejax.FitConfig.one_person())



def test_ablations_share_one_compiled_program_when_the_terms_are_compiled_in(setting):
  model = setting["model"]
  config = posejax.FitConfig.two_person(max_iters=3)
  every = ("keypoints", "contact", "pose_prior", "init_pose", "init_placement", "shape",
           "proximity")
  fitter = posejax.Fitter.create(model, config, regions=setting["regions"], terms=every)
  kp, cons, inits = setting["keypoints"][:1], setting["constraints"][:1], setting["inits"]
  init = jax.tree_util.tree_map(lambda x: x[:1], inits)
  ablations = [config.with_weights(penetration=0.0), config.with_weights(penetration=0.0, contact=0.0),
               config.with_weights(penetration=0.0, shape=0.0)]
  results = [fitter(kp, cons, init=init, camera=setting["camera"], config=c) for c in ablations]
  assert fitter.loop[1]._cache_size() == 1
  assert results[0].term("contact")[0] > 0
  assert results[1].term("contact")[0] == 0  # no scene weighs it: skipped at run time
  assert not np.allclose(results[0].params.body_pose, results[1].params.body_pose)
  with pytest.raises(posejax.InvalidInputError, match="did not compile"):
    fitter(kp, cons, init=init, camera=setting["camera"], config=config)


def test_fit_compiles_once_for_any_weights_and_learning_rates(setting):
  compiles = []

  def count(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
      compiles.append(duration)

  base = posejax.FitConfig.two_person(max_iters=3)
  knobs = [base.with_weights(contact=500.0),
           base.with_weights(contact=2000.0, keypoints=0.2).with_learning_rates(0.02, 0.002),
           base.with_weights(pose_prior=1.0).with_learning_rates(0.005),
           base.with_weights(init_pose=50.0, shape=10.0).with_max_iters(4, 2),
           base.with_learning_rates(0.03, 0.01)]
  kp, cons = setting["keypoints"][:2], setting["constraints"][:2]
  init = jax.tree_util.tree_map(lambda x: x[:2], setting["inits"])
  arguments = dict(init=init, model=setting["model"], camera=setting["camera"],
                   regions=setting["regions"])
  results = [posejax.fit(kp, cons, config=knobs[0], **arguments)]
  jax.monitoring.register_event_duration_secs_listener(count)
  try:
    results += [posejax.fit(kp, cons, config=config, **arguments) for config in knobs[1:]]
  finally:
    jax.monitoring.unregister_event_duration_listener(count)
  assert compiles == [], f"{len(compiles)} programs compiled after the first fit"
  poses = [np.asarray(r.params.body_pose) for r in results]
  assert all(not np.allclose(poses[0], p) for p in poses[1:])  # the knobs took effect
  assert results[3].iterations[0].tolist() == [4, 2]
