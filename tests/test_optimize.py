"""The compiled Adam stage: per-scene early stop, freezing, chunking and compilation count."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from posejax.optimize import least_squares_slope
from posejax.optimize import StageSettings
from posejax.optimize import make_stage


def test_slope_matches_numpy_polyfit():
  values = np.random.default_rng(0).normal(size=(3, 20))
  expected = [np.polyfit(np.arange(20), v, 1)[0] for v in values]
  np.testing.assert_allclose(least_squares_slope(jnp.asarray(values)), expected, rtol=1e-5,
                             atol=1e-6)


def _quadratic(free, carry, search, data, shared):
  del search, shared
  residual = free["x"] - data["target"]
  terms = jnp.stack([jnp.sum(residual**2), jnp.sum(jnp.abs(residual))])
  return terms[0], (terms, carry)


def _targets():
  return {"target": jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [5.0, -5.0, 5.0]])}


def test_scene_at_optimum_stops_early_and_freezes_while_others_go_on():
  stage = make_stage(_quadratic, num_terms=2)
  settings = StageSettings.create(learning_rate=0.05, max_iters=1000, early_stop_slope=1e-3)
  data = _targets()
  state = stage.init({"x": jnp.zeros((3, 3))}, data, None, settings)
  state = jax.jit(stage.advance)(state, data, None, 60)
  # Scene 1 starts at its optimum: the window fills (20 losses) and the flat slope stops it.
  assert bool(state.stopped[1]) and int(state.iters[1]) == 19
  assert not bool(state.stopped[2])
  np.testing.assert_array_equal(state.free["x"][1], np.zeros(3))
  assert int(state.iters[2]) == 60


def _scaled_quadratic(free, carry, search, data, shared):
  total, (terms, carry) = _quadratic(free, carry, search, data, shared)
  return data["scale"] * total, (data["scale"] * terms, carry)


def test_the_relative_rule_stops_a_scaled_problem_where_the_unscaled_one_stops():
  stage = make_stage(_scaled_quadratic, num_terms=2)
  target = jnp.array([[1.0, 2.0, 3.0]] * 2)
  data = {"target": target, "scale": jnp.array([1.0, 1000.0])}
  start = {"x": jnp.zeros((2, 3))}
  run = lambda settings: jax.jit(stage.advance)(stage.init(start, data, None, settings), data,
                                                None, 2000)
  absolute = run(StageSettings.create(learning_rate=0.05, max_iters=2000, early_stop_slope=1e-4))
  # Adam's steps do not depend on the loss's scale, so both scenes move alike; the absolute rule
  # waits for a 1000 times flatter curve on the scaled one.
  assert int(absolute.iters[1]) > int(absolute.iters[0])
  relative = run(StageSettings.create(learning_rate=0.05, max_iters=2000, early_stop_slope=0.0,
                                      early_stop_relative=1e-3))
  assert bool(relative.stopped.all())
  assert int(relative.iters[0]) == int(relative.iters[1])


def test_unstopped_scenes_follow_plain_adam_exactly():
  data = _targets()
  stage = make_stage(_quadratic, num_terms=2)
  settings = StageSettings.create(learning_rate=0.05, max_iters=1000, early_stop_slope=0.0)
  state = stage.init({"x": jnp.zeros((3, 3))}, data, None, settings)
  state = jax.jit(stage.advance)(state, data, None, 25)

  optimizer = optax.adam(0.05)
  x = jnp.zeros((3, 3))
  opt_state = optimizer.init(x)
  grad = jax.grad(lambda x: jnp.sum((x - data["target"]) ** 2))
  for _ in range(25):
    updates, opt_state = optimizer.update(grad(x), opt_state, x)
    x = optax.apply_updates(x, updates)
  np.testing.assert_allclose(state.free["x"], x, rtol=1e-6, atol=1e-6)


def test_chunked_run_equals_single_run_and_compiles_once():
  data = _targets()
  stage = make_stage(_quadratic, num_terms=2)
  settings = StageSettings.create(learning_rate=0.05, max_iters=1000, early_stop_slope=1e-3)
  advance = jax.jit(chex.assert_max_traces(stage.advance, n=1))
  whole = advance(stage.init({"x": jnp.zeros((3, 3))}, data, None, settings), data, None,
                  200)
  chunked = stage.init({"x": jnp.zeros((3, 3))}, data, None, settings)
  for until in range(10, 210, 10):
    chunked = advance(chunked, data, None, until)
  for a, b in zip(jax.tree_util.tree_leaves(whole), jax.tree_util.tree_leaves(chunked)):
    np.testing.assert_array_equal(a, b)


def test_searches_run_on_schedule():
  def objective(free, carry, search, data, shared):
    del data, shared
    # The carry records the parameters the last search saw.
    carry = search.renew(lambda: jax.lax.stop_gradient(jnp.sum(free["x"])), carry)
    return jnp.sum(free["x"] ** 2) + 0.0 * carry, (jnp.stack([carry]), carry)

  placeholder = lambda free, data, shared: jnp.zeros(())
  stage = make_stage(objective, num_terms=1, initial_carry=placeholder)
  settings = StageSettings.create(learning_rate=0.1, max_iters=1000, early_stop_slope=0.0,
                                  search_every=5)
  data = {"unused": jnp.zeros((1,))}
  state = stage.init({"x": jnp.ones((1, 2))}, data, None, settings)
  state = stage.advance(state, data, None, 7)
  # Searched at step 5 (after 5 updates), not at 6: the carry is the sum after 5 updates.
  replay = make_stage(objective, num_terms=1, initial_carry=placeholder)
  replay_with = StageSettings.create(learning_rate=0.1, max_iters=1000, early_stop_slope=0.0,
                                     search_every=1000)
  five = replay.advance(replay.init({"x": jnp.ones((1, 2))}, data, None, replay_with), data,
                        None, 5)
  np.testing.assert_allclose(state.carry, jnp.sum(five.free["x"], axis=1), rtol=1e-6)
  # The stage's last evaluation (after max_iters updates) searches afresh whatever the interval.
  short = StageSettings.create(learning_rate=0.1, max_iters=12, early_stop_slope=0.0,
                               search_every=1000)
  done = replay.advance(replay.init({"x": jnp.ones((1, 2))}, data, None, short), data, None, 100)
  assert int(done.step) == 13
  np.testing.assert_allclose(done.carry, jnp.sum(done.free["x"], axis=1), rtol=1e-6)
  np.testing.assert_allclose(done.terms[:, 0], done.carry, rtol=1e-6)


def test_a_full_stage_takes_max_iters_steps_and_reports_terms_at_the_final_parameters():
  data = _targets()
  stage = make_stage(_quadratic, num_terms=2)
  settings = StageSettings.create(learning_rate=0.05, max_iters=12, early_stop_slope=0.0)
  state = stage.init({"x": jnp.zeros((3, 3))}, data, None, settings)
  state = stage.advance(state, data, None, 1000)
  assert int(state.step) == 13
  np.testing.assert_array_equal(state.iters, [12, 12, 12])
  total, (terms, _) = jax.vmap(_quadratic, in_axes=(0, None, None, 0, None))(
      state.free, None, True, data, None)
  np.testing.assert_allclose(state.loss, total, rtol=1e-6)
  np.testing.assert_allclose(state.terms, terms, rtol=1e-6)


def test_one_program_runs_stages_with_different_settings_and_frozen_groups():
  data = _targets()

  def objective(free, carry, search, data, shared):
    del search, shared
    residual = free["x"] + free["y"] - data["target"]
    return jnp.sum(residual**2), (jnp.stack([jnp.sum(residual**2)]), carry)

  stage = make_stage(objective, num_terms=1)
  init = jax.jit(chex.assert_max_traces(stage.init, n=1))
  advance = jax.jit(chex.assert_max_traces(stage.advance, n=1))
  free = {"x": jnp.zeros((3, 3)), "y": jnp.zeros((3, 3))}
  first = StageSettings.create(learning_rate=0.05, max_iters=10, early_stop_slope=0.0,
                               trainable={"x": True, "y": True})
  state = advance(init(free, data, None, first), data, None, 1000)
  assert int(state.step) == 11
  second = StageSettings.create(learning_rate=0.01, max_iters=7, early_stop_slope=0.0,
                                trainable={"x": True, "y": False})
  after = advance(init(state.free, data, None, second), data, None, 1000)
  assert int(after.step) == 8
  np.testing.assert_array_equal(after.free["y"], state.free["y"])  # frozen: exactly unchanged

  optimizer = optax.adam(0.01)
  x = state.free["x"]
  opt_state = optimizer.init(x)
  grad = jax.grad(lambda x: jnp.sum((x + state.free["y"] - data["target"]) ** 2))
  for _ in range(7):
    updates, opt_state = optimizer.update(grad(x), opt_state, x)
    x = optax.apply_updates(x, updates)
  np.testing.assert_allclose(after.free["x"], x, rtol=1e-6, atol=1e-6)
