"""A compiled Adam stage over a batch of independent scenes, each with its own early stop.

The objective is written for ONE scene and vmapped; iterations run in a jitted ``lax.while_loop``
(the host sees only chunk boundaries). A scene whose loss has flattened freezes while the others go
on. What differs between stages is a traced ``StageSettings``: one compiled program runs them all.
API (optax style): ``make_stage(objective, ...) -> Stage(init, advance)``, all pure.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from posejax.errors import InvalidInputError

Objective = Callable[[Any, Any, Any, Any, Any], tuple[jax.Array, tuple[jax.Array, Any]]]
"""``objective(free, carry, search, data, shared) -> (total (), (terms (T,), carry))`` for one
scene: ``carry`` holds gradient-free search results (closest pairs, inside masks); ``search`` is
shaped like ``StageSettings.search_every`` with ``Search`` leaves: where one is due, the objective
searches afresh and returns the new results (``Search.renew``), otherwise it uses and returns
``carry``."""


class Search(NamedTuple):
  """Whether one search runs at this iteration.

  Each scene has its own schedule (scenes enter a refilled batch at different iterations);
  ``anyone`` is the same for the whole batch, so a ``lax.cond`` on it stays a real branch under
  ``vmap``: the search runs only where some scene needs it.

  Attributes:
    due: () bool, this scene searches now.
    anyone: () bool, some live scene of the batch searches now (not batched).
  """

  due: jax.Array
  anyone: jax.Array

  def renew(self, run: Callable[[], Any], old: Any) -> Any:
    """``run()`` when this scene is due, else ``old`` (``run`` is skipped when no scene is)."""
    fresh = lambda: jax.tree_util.tree_map(lambda new, kept: jnp.where(self.due, new, kept),
                                           run(), old)
    return jax.lax.cond(self.anyone, fresh, lambda: old)


@flax.struct.dataclass
class StageSettings:
  """What one stage of a fit sets (all traced: stages with different settings share a program).

  Attributes:
    early_stop_slope: stop a scene when the |slope| of its last W losses is below this (0: never).
    early_stop_relative: stop when that |slope| is below this times the mean |loss| (0: never).
    search_every: int32 iterations between searches, or a pytree of them (e.g. one per loss
      term); the objective receives ``search`` of the same structure (see ``Objective``).
    trainable: a pytree like the unbatched ``free`` with bool leaves: the groups this stage moves
      (the others get zero gradient, hence, from zero Adam moments, exactly zero updates).
  """

  learning_rate: jax.Array  # () Adam step size
  max_iters: jax.Array  # () int32 cap on Adam steps per scene
  early_stop_slope: jax.Array  # ()
  early_stop_relative: jax.Array  # ()
  search_every: jax.Array
  trainable: Any

  @classmethod
  def create(cls, *, learning_rate: float, max_iters: int, early_stop_slope: float = 1e-4,
             early_stop_relative: float = 0.0, search_every: Any = 1, trainable: Any = None,
             dtype=jnp.float32) -> "StageSettings":
    """Settings from Python numbers; ``trainable`` None means every group of ``free`` moves
    (pass a matching pytree of bools otherwise)."""
    intervals = jax.tree_util.tree_leaves(search_every)
    if int(max_iters) < 0 or any(int(k) < 1 for k in intervals):
      raise InvalidInputError(f"max_iters must be >= 0 and every search interval >= 1, got "
                              f"{max_iters}, {search_every}")
    return cls(
        learning_rate=jnp.asarray(learning_rate, dtype),
        max_iters=jnp.asarray(max_iters, jnp.int32),
        early_stop_slope=jnp.asarray(early_stop_slope, dtype),
        early_stop_relative=jnp.asarray(early_stop_relative, dtype),
        search_every=jax.tree_util.tree_map(lambda k: jnp.asarray(k, jnp.int32), search_every),
        trainable=jax.tree_util.tree_map(lambda t: jnp.asarray(t, bool), trainable),
    )


@flax.struct.dataclass
class StageState:
  """The state of one stage for a batch of B scenes (the B slots of a refilled batch); every field
  but ``settings`` and ``step`` has leading axis B."""

  free: Any  # the optimised parameters
  opt_state: Any  # Adam's, per scene (its step count included)
  carry: Any  # the gradient-free search results (e.g. closest vertex pairs)
  settings: StageSettings
  step: jax.Array  # () int32 loop iterations run so far (the clock ``advance``'s ``until`` counts)
  # (B,) int32 objective evaluations in this stage (at most max_iters + 1; less than ``step`` for
  # scenes that entered later).
  evaluations: jax.Array
  history: jax.Array  # (B, W) the last W total losses, oldest first
  seen: jax.Array  # (B,) int32 how many losses ``history`` holds (saturates at W)
  stopped: jax.Array  # (B,) bool the early-stop rule fired
  iters: jax.Array  # (B,) int32 parameter updates applied
  loss: jax.Array  # (B,) total loss at the current parameters (once evaluated there)
  terms: jax.Array  # (B, T) unweighted loss terms at the current parameters

  @property
  def done(self) -> jax.Array:
    """(B,) bool, scenes whose stage has ended (early stop, or the cap's final evaluation)."""
    return self.stopped | (self.evaluations > self.settings.max_iters)


class Stage(NamedTuple):
  """The pure functions of a compiled stage (see ``make_stage``)."""

  init: Callable[[Any, Any, Any, StageSettings], StageState]
  advance: Callable[[StageState, Any, Any, jax.Array], StageState]


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
    num_terms: int,
    early_stop_window: int = 20,
    initial_carry: Callable[[Any, Any, Any], Any] | None = None,
) -> Stage:
  """Builds the pure functions of an Adam stage over a batch of scenes.

  Each iteration evaluates the objective and its gradient, records the loss, applies the
  early-stop rule, then (unless stopped) takes an Adam step; one more evaluation after the last
  step makes ``state.loss`` and ``state.terms`` those of the returned parameters (``max_iters + 1``
  evaluations). The objective searches in the first iteration, every ``search_every`` iterations
  and in that last evaluation, on its own forward pass's values.

  Args:
    objective: an ``Objective`` for ONE scene; ``free`` holds the optimised parameters, ``data``
      the rest of the scene, ``shared`` what all scenes share (never batched).
    num_terms: T, the length of the per-term loss vector the objective returns (static: the
      recorded ``state.terms`` are (B, T)).
    early_stop_window: W, the number of recent total losses the slope is fitted to (static: it
      is an array size).
    initial_carry: ``initial_carry(free, data, shared) -> carry`` for ONE scene, a placeholder of
      the right structure (the first iteration searches); ``None``: no searches.

  Returns:
    ``Stage(init, advance)`` (jit both; one compilation serves every stage and chunk):
      ``init(free, data, shared, settings)`` for batched ``free`` and ``data`` (leading axis B);
      ``advance(state, data, shared, until)`` runs until ``state.step == until`` (traced) or
      every scene's stage is complete.
  """
  adam = optax.scale_by_adam()
  placeholder = initial_carry if initial_carry is not None else (lambda free, data, shared: ())
  scenes = (0, 0, None)
  placeholder_batch = jax.vmap(placeholder, in_axes=scenes)
  # Adam per scene: each scene's bias correction counts its own updates, wherever it entered.
  adam_init, adam_update = jax.vmap(adam.init), jax.vmap(adam.update)

  def batched(objective_function, search_every):
    search_axes = jax.tree_util.tree_map(lambda _: Search(due=0, anyone=None), search_every)
    return jax.vmap(objective_function, in_axes=(0, 0, search_axes, 0, None))

  def init(free, data, shared, settings: StageSettings) -> StageState:
    leaf = jax.tree_util.tree_leaves(free)[0]
    batch, dtype = leaf.shape[0], leaf.dtype
    if settings.trainable is None:
      settings = settings.replace(
          trainable=jax.tree_util.tree_map(lambda _: jnp.ones((), bool), free))
    # The searches run in the first iteration (step 0), not here: compiled once, in ``advance``.
    carry = placeholder_batch(free, data, shared)
    return StageState(
        free=free,
        opt_state=adam_init(free),
        carry=carry,
        settings=settings,
        step=jnp.zeros((), jnp.int32),
        evaluations=jnp.zeros((batch,), jnp.int32),
        history=jnp.zeros((batch, early_stop_window), dtype),
        seen=jnp.zeros((batch,), jnp.int32),
        stopped=jnp.zeros((batch,), bool),
        iters=jnp.zeros((batch,), jnp.int32),
        loss=jnp.full((batch,), jnp.inf, dtype),
        terms=jnp.zeros((batch, num_terms), dtype),
    )

  def iteration(state: StageState, data, shared) -> StageState:
    settings = state.settings
    live = ~state.done
    last = state.evaluations >= settings.max_iters  # scores the final parameters: searches fresh

    def search_flags(every):
      due = (state.evaluations % every == 0) | last
      return Search(due=due, anyone=jnp.any(due & live))

    search = jax.tree_util.tree_map(search_flags, settings.search_every)
    (total, (terms, carry)), grads = batched(
        jax.value_and_grad(objective, has_aux=True), settings.search_every)(
            state.free, state.carry, search, data, shared)
    if terms.shape[1:] != (num_terms,):
      raise InvalidInputError(f"the objective returns {terms.shape[1:]} terms per scene, but the "
                              f"stage was made for num_terms={num_terms}")
    grads = jax.tree_util.tree_map(
        lambda g, t: jnp.where(t, g, jnp.zeros_like(g)), grads, settings.trainable)
    history = jnp.concatenate([state.history[:, 1:], total[:, None]], axis=1)
    seen = jnp.minimum(state.seen + 1, early_stop_window)
    slope = jnp.abs(least_squares_slope(history))
    scale = jnp.mean(jnp.abs(history), axis=1)
    relative = settings.early_stop_relative
    threshold = jnp.maximum(settings.early_stop_slope,
                            jnp.where(relative > 0, relative * scale, 0.0))
    flat = live & (seen >= early_stop_window) & (slope < threshold)
    stopped = state.stopped | flat
    frozen = stopped | last | ~live
    directions, opt_state = adam_update(grads, state.opt_state)
    rate = settings.learning_rate
    moved = jax.tree_util.tree_map(lambda p, d: p - rate.astype(p.dtype) * d, state.free,
                                   directions)
    keep = lambda new, old: jnp.where(_expand(frozen, new), old, new)
    return state.replace(
        free=jax.tree_util.tree_map(keep, moved, state.free),
        opt_state=jax.tree_util.tree_map(keep, opt_state, state.opt_state),
        carry=carry,
        step=state.step + 1,
        evaluations=state.evaluations + live.astype(jnp.int32),
        history=jnp.where(live[:, None], history, state.history),
        seen=jnp.where(live, seen, state.seen),
        stopped=stopped,
        iters=state.iters + (~frozen).astype(jnp.int32),
        loss=jnp.where(live, total, state.loss),
        terms=jnp.where(live[:, None], terms, state.terms),
    )

  def advance(state: StageState, data, shared, until) -> StageState:
    return jax.lax.while_loop(
        lambda s: (s.step < until) & ~jnp.all(s.done),
        lambda s: iteration(s, data, shared),
        state,
    )

  return Stage(init=init, advance=advance)


def replace_scenes(state: StageState, fresh: StageState, mask: jax.Array) -> StageState:
  """``state`` with the scenes (slots) where ``mask`` is set taken from ``fresh``.

  For continuous batching: a new scene's row of a fresh ``init`` (zero moments, no losses seen)
  runs exactly as in a stage of its own; the clock ``step`` and the settings stay ``state``'s.

  Args:
    state: the running stage.
    fresh: ``init`` of the same stage for the incoming scenes (rows not in ``mask`` unused).
    mask: (B,) bool, the slots to replace.
  """
  rows = lambda s: s.replace(settings=None, step=None)  # the per-scene fields
  merged = jax.tree_util.tree_map(lambda new, old: jnp.where(_expand(mask, new), new, old),
                                  rows(fresh), rows(state))
  return merged.replace(settings=state.settings, step=state.step)


def _expand(mask: jax.Array, like: jax.Array) -> jax.Array:
  """(B,) mask reshaped to broadcast against a (B, ...) leaf without rank promotion."""
  return mask.reshape(mask.shape + (1,) * (like.ndim - 1))
