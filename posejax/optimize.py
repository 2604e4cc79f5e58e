"""A compiled Adam stage over a batch of independent scenes, each with its own early stop.

The objective is written for ONE scene; the stage vmaps it over the leading batch axis. Iterations
run inside ``lax.while_loop`` within ``jit``; the host only calls back in between chunks of
iterations (for progress output), never per iteration. A scene whose loss has flattened stops: its
parameters and optimiser moments freeze while the other scenes go on; the loop ends when every scene
has stopped or at the iteration cap.

Shape of the API (optax style): ``make_stage(...) -> Stage(init, advance, max_iters)``, all pure.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

Objective = Callable[[Any, Any, Any, Any], tuple[jax.Array, jax.Array]]
"""``objective(free, carry, data, shared) -> (total (), terms (T,))`` for one scene."""


@flax.struct.dataclass
class StageState:
  """The state of one stage for a batch of B scenes.

  Attributes:
    free: the optimised parameters, a pytree whose leaves have leading axis B.
    opt_state: Adam's state for ``free``.
    carry: per-scene gradient-free state refreshed every ``refresh_every`` iterations (e.g. the
      interpenetration inside masks), leading axis B.
    step: () int32, objective evaluations run so far in this stage (at most ``max_iters + 1``).
    history: (B, W) the last W total losses, oldest first.
    seen: (B,) int32, how many losses ``history`` holds (saturates at W).
    stopped: (B,) bool, scenes whose early-stop rule fired.
    iters: (B,) int32, parameter updates applied to each scene.
    loss: (B,) the total loss at each scene's current parameters (once evaluated there).
    terms: (B, T) the unweighted loss terms at each scene's current parameters.
  """

  free: Any
  opt_state: Any
  carry: Any
  step: jax.Array
  history: jax.Array
  seen: jax.Array
  stopped: jax.Array
  iters: jax.Array
  loss: jax.Array
  terms: jax.Array


class Stage(NamedTuple):
  """The pure functions of one compiled stage (see ``make_stage``)."""

  init: Callable[[Any, Any, Any], StageState]
  advance: Callable[[StageState, Any, Any, jax.Array], StageState]
  max_iters: int


def least_squares_slope(values: jax.Array) -> jax.Array:
  """Slope of the least-squares line through equally spaced values.

  Args:
    values: (..., W) samples at x = 0, 1, ..., W-1.

  Returns:
    (...,) the slope, in units of ``values`` per step.
  """
  width = values.shape[-1]
  x = np.arange(width, dtype=np.float64) - (width - 1) / 2.0
  x = jnp.asarray(x / np.sum(x * x), values.dtype)
  centred = values - jnp.mean(values, axis=-1, keepdims=True)
  return centred @ x


def make_stage(
    objective: Objective,
    *,
    learning_rate: float,
    max_iters: int,
    early_stop_window: int = 20,
    early_stop_slope: float = 1e-4,
    refresh: Callable[[Any, Any, Any], Any] | None = None,
    refresh_every: int = 1,
) -> Stage:
  """Builds the pure functions of one Adam stage over a batch of scenes.

  Each iteration evaluates the objective and its gradient at the current parameters, records
  the loss, applies the early-stop rule, then (unless stopped) takes an Adam step. The stage ends
  with one more evaluation after the last step, so that ``state.loss`` and ``state.terms`` belong
  to the returned parameters: a full stage is ``max_iters + 1`` evaluations.

  Args:
    objective: ``objective(free, carry, data, shared) -> (total, terms)`` for ONE scene; ``free``
      holds the optimised parameters, ``carry`` the gradient-free state from ``refresh``, ``data``
      everything else of the scene (observations, weights, fixed parameters), ``shared`` what all
      scenes share (model tables; never batched).
    learning_rate: Adam step size.
    max_iters: the cap on Adam steps per scene.
    early_stop_window: W, the number of recent total losses the slope is fitted to.
    early_stop_slope: stop a scene when |slope| < this; 0 never stops early.
    refresh: ``refresh(free, data, shared) -> carry`` for ONE scene, evaluated at the start and
      then every ``refresh_every`` iterations; ``None`` keeps an empty carry.
    refresh_every: iterations between refreshes.

  Returns:
    ``Stage(init, advance, max_iters)`` (jit ``init`` and ``advance``):
      ``init(free, data, shared) -> StageState`` for batched ``free`` and ``data`` (leading axis B);
      ``advance(state, data, shared, until) -> StageState`` runs iterations until
      ``state.step == until``, the stage is complete (``max_iters + 1`` evaluations) or every scene
      has stopped; ``until`` is traced, so one compilation serves every chunk.
  """
  optimizer = optax.adam(learning_rate)
  refresh_one = refresh if refresh is not None else (lambda free, data, shared: ())
  scenes = (0, 0, None)
  refresh_batch = jax.vmap(refresh_one, in_axes=scenes)
  value_and_grad = jax.vmap(jax.value_and_grad(objective, has_aux=True), in_axes=(0,) + scenes)

  def init(free, data, shared) -> StageState:
    leaf = jax.tree_util.tree_leaves(free)[0]
    batch, dtype = leaf.shape[0], leaf.dtype
    carry = refresh_batch(free, data, shared)
    _, terms = jax.eval_shape(jax.vmap(objective, in_axes=(0,) + scenes), free, carry, data,
                              shared)
    return StageState(
        free=free,
        opt_state=optimizer.init(free),
        carry=carry,
        step=jnp.zeros((), jnp.int32),
        history=jnp.zeros((batch, early_stop_window), dtype),
        seen=jnp.zeros((batch,), jnp.int32),
        stopped=jnp.zeros((batch,), bool),
        iters=jnp.zeros((batch,), jnp.int32),
        loss=jnp.full((batch,), jnp.inf, dtype),
        terms=jnp.zeros(terms.shape, terms.dtype),
    )

  def iteration(state: StageState, data, shared) -> StageState:
    carry = jax.lax.cond(
        (state.step % refresh_every == 0) & (state.step > 0),
        lambda: refresh_batch(state.free, data, shared),
        lambda: state.carry,
    )
    (total, terms), grads = value_and_grad(state.free, carry, data, shared)
    live = ~state.stopped
    history = jnp.concatenate([state.history[:, 1:], total[:, None]], axis=1)
    seen = jnp.minimum(state.seen + 1, early_stop_window)
    flat = (seen >= early_stop_window) & (jnp.abs(least_squares_slope(history)) < early_stop_slope)
    stopped = state.stopped | flat
    frozen = stopped | (state.step >= max_iters)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.free)
    moved = optax.apply_updates(state.free, updates)
    keep = lambda new, old: jnp.where(_expand(frozen, new), old, new)
    return state.replace(
        free=jax.tree_util.tree_map(keep, moved, state.free),
        opt_state=jax.tree_util.tree_map(
            lambda new, old: keep(new, old) if jnp.ndim(new) > 0 else new, opt_state,
            state.opt_state),
        carry=carry,
        step=state.step + 1,
        history=jnp.where(live[:, None], history, state.history),
        seen=jnp.where(live, seen, state.seen),
        stopped=stopped,
        iters=state.iters + (~frozen).astype(jnp.int32),
        loss=jnp.where(live, total, state.loss),
        terms=jnp.where(live[:, None], terms, state.terms),
    )

  def advance(state: StageState, data, shared, until) -> StageState:
    return jax.lax.while_loop(
        lambda s: (s.step < until) & (s.step <= max_iters) & ~jnp.all(s.stopped),
        lambda s: iteration(s, data, shared),
        state,
    )

  return Stage(init=init, advance=advance, max_iters=max_iters)


def _expand(mask: jax.Array, like: jax.Array) -> jax.Array:
  """(B,) mask reshaped to broadcast against a (B, ...) leaf without rank promotion."""
  return mask.reshape(mask.shape + (1,) * (like.ndim - 1))
