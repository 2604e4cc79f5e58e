"""Continuous batching: a dataset's scenes flow through a fixed number of slots (``fit(slots=)``).

Each stage has a pool of B slots running the fitter's one compiled stage loop in chunks of steps;
between chunks the host moves the scenes whose stage ended to the next stage's queue or the
results and fills the free slots, so a scene costs its own steps. One pool per stage, because the
stages share one program anyway and each pool then pays only for its own stage's terms (stage 1
not for stage 2's interpenetration searches).

Exactness: a slot enters as its row of a fresh ``init`` (``optimize.replace_scenes``) and keeps its
own counts, early-stop window and searches; chunks are a multiple of every search interval, so a
pool's scenes search at the same steps as in ``fit``. A pool runs when full or when no scene can
still come to it; stage 1 takes new scenes only while the next queue is shorter than a pool. The
folded body templates are built B scenes at a time and dropped when their scenes are done.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from posejax.body.model import PARAM_FIELDS
from posejax.body.model import BodyParams
from posejax.config import TERMS
from posejax.fit_data import ANCHORED
from posejax.fit_data import Outcome
from posejax.fit_data import Scene
from posejax.fit_data import prepare_keypoints
from posejax.fit_data import stage_weights
from posejax.optimize import replace_scenes

_log = logging.getLogger(__name__)

_replace_scenes = jax.jit(replace_scenes)


def _to_device(tree):
  """Device copies of host arrays that the host goes on to change in place (on CPU,
  ``jnp.asarray`` may share a large array's memory under a computation still queued)."""
  return jax.tree_util.tree_map(lambda x: jnp.asarray(np.array(x, copy=True)), tree)


def log_line(info: dict) -> None:
  """The ``progress=True`` line of ``fit`` with slots, logged at INFO on ``posejax.streaming``."""
  _log.info("%d/%d scenes done; running per stage %s, waiting %s (%d chunks, %.1f s)",
            info["finished"], info["scenes"], info["running"], info["waiting"],
            info["chunks"], info["seconds"])


class _Pool:
  """The host's view of one stage's B slots: which scene each holds and the slots' inputs."""

  def __init__(self, stage: int, slots: int):
    self.stage = stage
    self.owner = np.full((slots,), -1)  # the scene in each slot, -1 for none
    self.load = np.zeros((slots,), bool)  # slots filled since the last chunk
    self.scene = None  # fit_data.Scene of numpy arrays (B, ...), the slots' inputs
    self.free = None  # field -> (B, P, width) numpy, the entering scenes' parameters
    self.state = None  # the device StageState
    self.device_scene = None  # ``scene`` on the device, until a slot is filled again

  @property
  def occupied(self) -> int:
    return int(np.sum(self.owner >= 0))

  @property
  def full(self) -> bool:
    return bool(np.all(self.owner >= 0))


class _Tables:
  """The folded per-person body tables and prepared keypoints, built B scenes at a time."""

  def __init__(self, fitter, keypoints, init: BodyParams, camera, slots: int):
    self.fitter, self.init, self.camera, self.slots = fitter, init, camera, slots
    self.raw_keypoints = keypoints
    self.keypoints = np.array(keypoints)  # (S, P, 25, 3), the ankle fallback applied
    self.missing = np.zeros(keypoints.shape[:2], bool)
    self.blocks = {}  # block -> field -> (B, P, ...) numpy
    self.pending = {}  # block -> scenes of the block not yet done

  def person(self, scene: int) -> dict:
    """The folded model pieces of ``scene``: field -> (1, P, ...) numpy."""
    block, row = divmod(scene, self.slots)
    if block not in self.blocks:
      count = len(self.keypoints)
      rows = np.arange(block * self.slots, min((block + 1) * self.slots, count))
      padded = np.concatenate([rows, np.full(self.slots - len(rows), rows[-1])])
      take = lambda tree: jax.tree_util.tree_map(lambda x: x[padded], tree)
      init = take(self.init)
      person = self.fitter.fold(init)
      keypoints, missing = prepare_keypoints(self.fitter.shared.kernel, person, init,
                                             take(self.raw_keypoints), take(self.camera))
      self.keypoints[rows] = np.asarray(keypoints)[:len(rows)]
      self.missing[rows] = np.asarray(missing)[:len(rows)]
      self.blocks[block] = jax.tree_util.tree_map(np.asarray, person)
      self.pending[block] = len(rows)
    return jax.tree_util.tree_map(lambda x: x[row:row + 1], self.blocks[block])

  def release(self, scene: int) -> None:
    """``scene`` is done: drop its block's tables once every scene of the block is."""
    block = scene // self.slots
    self.pending[block] -= 1
    if self.pending[block] == 0:
      del self.blocks[block], self.pending[block]


def fit_scenes(fitter, config, rows, keypoints, init: BodyParams, constraints, camera, fell_back,
               *, slots: int, chunk_size: int, progress: Callable[[dict], None] | None):
  """Fits the scenes ``rows`` of checked, flattened inputs through ``slots`` slots per stage.

  Args:
    fitter, config: the ``Fitter`` and its checked ``FitConfig``.
    rows: (R,) int, the scenes to fit, indices into the inputs' scene axis.
    keypoints, init, constraints, camera: ``Fitter._check_inputs``'s flattened inputs (S, ...).
    fell_back: (S,) bool, the scenes that use the fallback weights.
    slots, chunk_size, progress: as in ``posejax.fit`` (``progress`` a callable or None).

  Returns:
    ``fit_data.Outcome`` of numpy arrays with leading axis R, in the order of ``rows``.
  """
  rows = np.asarray(rows, int)
  take = lambda tree: jax.tree_util.tree_map(lambda x: np.asarray(x)[rows], tree)
  keypoints, init, constraints, camera, fell_back = take(
      (keypoints, init, constraints, camera, fell_back))
  count, stages = len(rows), len(config.stages)
  dtype = keypoints.dtype
  params = {name: np.array(getattr(init, name)) for name in PARAM_FIELDS}
  weights = [stage_weights(config, s, fell_back, fitter.model.dtype) for s in range(stages)]
  settings = [fitter.stage_settings(config, s) for s in range(stages)]
  tables = _Tables(fitter, keypoints, init, camera, slots)
  terms = np.zeros((count, stages, len(TERMS)), dtype)
  total = np.zeros((count, stages), dtype)
  iterations = np.zeros((count, stages), np.int32)
  converged = np.zeros((count, stages), bool)

  intervals = [getattr(config, f"{term}_search_every") for term in fitter.searched_terms()]
  aligned = math.lcm(*intervals) if intervals else 1
  chunk = -(-chunk_size // aligned) * aligned
  init_stage, advance = fitter.loop
  fixed_fields = [name for name in PARAM_FIELDS if name not in fitter.groups]

  def source(scene: int, stage: int):
    """The inputs of ``scene`` in ``stage``: a ``Scene`` and its free parameters, rows (1, ...)."""
    one = slice(scene, scene + 1)
    person = tables.person(scene)  # first: it prepares the keypoints of the scene's block
    data = Scene(
        keypoints=tables.keypoints[one],
        camera=jax.tree_util.tree_map(lambda x: x[one], camera),
        constraints=jax.tree_util.tree_map(lambda x: x[one], constraints),
        weights=weights[stage][one], anchor={name: params[name][one] for name in ANCHORED},
        fixed={name: params[name][one] for name in fixed_fields}, person=person)
    return data, {name: params[name][one] for name in fitter.groups}

  def enter(pool: _Pool, slot: int, scene: int) -> None:
    data, free = source(scene, pool.stage)
    if pool.scene is None:  # every slot starts as a copy of the first scene (finite filler)
      pool.scene = jax.tree_util.tree_map(lambda x: np.repeat(x, slots, axis=0), data)
      pool.free = jax.tree_util.tree_map(lambda x: np.repeat(x, slots, axis=0), free)
    else:
      jax.tree_util.tree_map(lambda d, s: d.__setitem__(slot, s[0]), (pool.scene, pool.free),
                             (data, free))
    pool.owner[slot] = scene
    pool.load[slot] = True
    pool.device_scene = None

  def run_chunk(pool: _Pool) -> None:
    if pool.device_scene is None:
      pool.device_scene = _to_device(pool.scene)
    scene = pool.device_scene
    shared = fitter.shared_for(pool.scene.weights[pool.owner >= 0])
    state = pool.state
    if pool.load.any():
      fresh = init_stage(_to_device(pool.free), scene, shared, settings[pool.stage])
      state = fresh if state is None else _replace_scenes(state, fresh, _to_device(pool.load))
      state = state.replace(stopped=state.stopped | _to_device(pool.owner < 0))
      pool.load[:] = False
    pool.state = advance(state, scene, shared, int(state.step) + chunk)

  def harvest(pool: _Pool) -> None:
    """Moves the scenes whose stage ended out of their slots."""
    done = np.asarray(pool.state.done) & (pool.owner >= 0)
    if not done.any():
      return
    state = jax.device_get((pool.state.free, pool.state.terms, pool.state.loss,
                            pool.state.iters, pool.state.stopped))
    free, stage_terms, loss, iters, stopped = state
    s = pool.stage
    for slot in np.flatnonzero(done):
      scene = pool.owner[slot]
      for name in fitter.groups:
        params[name][scene] = free[name][slot]
      terms[scene, s], total[scene, s] = stage_terms[slot], loss[slot]
      iterations[scene, s], converged[scene, s] = iters[slot], stopped[slot]
      pool.owner[slot] = -1
      if s + 1 < stages:
        queues[s + 1].append(scene)
      else:
        tables.release(scene)
        finished.append(scene)

  def nothing_more_for(stage: int) -> bool:
    """No scene is waiting for or still in an earlier stage: a pool that is not full waits for
    one, or its chunks of mostly empty slots (in a costlier later stage, often) would run while
    the first stage's slowest scenes finish."""
    return all(not queues[s] and not pools[s].occupied for s in range(stage)) \
        and not queues[stage]

  pools = [_Pool(s, slots) for s in range(stages)]
  queues = [collections.deque(range(count))] + [collections.deque() for _ in range(1, stages)]
  finished = []
  chunks, started = 0, time.perf_counter()
  while len(finished) < count:
    for pool in reversed(pools):  # later stages first: they hold back the first one
      s = pool.stage
      blocked = s + 1 < stages and len(queues[s + 1]) >= slots
      for slot in np.flatnonzero(pool.owner < 0):
        if not queues[s] or blocked:
          break
        enter(pool, slot, queues[s].popleft())
    runnable = [p for p in pools if p.occupied and (p.full or nothing_more_for(p.stage))]
    if not runnable:  # cannot happen by the rules above; never spin
      runnable = [p for p in pools if p.occupied]
    for pool in runnable:
      run_chunk(pool)
      chunks += 1
    for pool in runnable:
      harvest(pool)
    if progress is not None:
      progress({"finished": len(finished), "scenes": count,
                "running": [p.occupied for p in pools], "waiting": [len(q) for q in queues],
                "chunks": chunks, "seconds": time.perf_counter() - started})

  return Outcome(params=params, stage_terms=terms, stage_total=total, iterations=iterations,
                 converged=converged, keypoints=tables.keypoints, missing=tables.missing,
                 fell_back=np.asarray(fell_back))


def fit_across_processes(run: Callable[[np.ndarray], object], count: int):
  """Each ``jax.distributed`` process fits its contiguous share of ``count`` scenes with
  ``run(rows)``; returns every scene's outcome, in order, on every process."""
  from jax.experimental import multihost_utils

  processes, index = jax.process_count(), jax.process_index()
  shares = np.array_split(np.arange(count), processes)
  outcome = run(shares[index])
  width = max(len(share) for share in shares)
  pad = lambda x: np.concatenate(
      [np.asarray(x), np.zeros((width - len(x),) + np.shape(x)[1:], np.asarray(x).dtype)])
  gathered = multihost_utils.process_allgather(jax.tree_util.tree_map(pad, outcome))
  return jax.tree_util.tree_map(
      lambda x: np.concatenate([np.asarray(x)[p, :len(share)] for p, share in enumerate(shares)]),
      gathered)
