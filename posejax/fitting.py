"""``fit``: the two-stage ProsePose optimisation of one scene or thousands at once.

* Once per (model, config), in a ``Fitter``: the region subsamples, the interpenetration proxy and
  the few thousand vertices any loss reads; the body is evaluated only there, with the hands, jaw,
  eyes and expression a fit never moves folded into per-person templates.
* Per stage: a ``lax.while_loop`` of Adam steps over every scene at once (``posejax.optimize``),
  in chunks between progress reports; each scene stops on its own. Every stage runs one compiled
  program (settings and weights are traced), once per (batch size, config structure, model).
* Every ``config.contact_search_every`` / ``penetration_search_every`` steps: the gradient-free
  searches (contact pairs and choices; inside masks). In between, the terms use the remembered
  correspondences, as ICP does (an upper bound, equal at each search); the last evaluation of a
  stage searches afresh, so reported terms are exact.

The objective is written for one scene (P = 1 or 2 people) and vmapped.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import time
from typing import Any, Callable, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from posejax import fit_inputs
from posejax import io_utils
from posejax import streaming
from posejax import validation
from posejax.body import keypoints as body_keypoints
from posejax.body.forward import forward
from posejax.body.model import PARAM_FIELDS
from posejax.body.model import BodyModel
from posejax.body.model import BodyParams
from posejax.body.reduce import DEFAULT_FROZEN_FIELDS
from posejax.body.reduce import reduce_model
from posejax.body.regions import RegionMap
from posejax.body.regions import derive_regions
from posejax.camera import Camera
from posejax.camera import project
from posejax.config import TERMS
from posejax.config import FitConfig
from posejax.constraints import Constraints
from posejax.constraints import needs_fallback
from posejax.errors import InvalidInputError
from posejax.fit_data import ANCHORED
from posejax.fit_data import PERSON_FIELDS
from posejax.fit_data import Outcome
from posejax.fit_data import Scene
from posejax.fit_data import prepare_keypoints
from posejax.fit_data import stage_weights
from posejax.losses import contact as contact_losses
from posejax.losses import penetration
from posejax.losses import priors
from posejax.losses import proximity
from posejax.losses.keypoints import keypoint_loss
from posejax.optimize import StageSettings
from posejax.optimize import make_stage
from posejax.result import FitResult

_log = logging.getLogger(__name__)

Progress = Callable[[dict], None]
"""Called between chunks with ``{"stage", "iteration", "max_iters", "stopped", "scenes",
"median_loss", "seconds"}``."""


@flax.struct.dataclass
class _Shared:
  """What every scene of a fit shares (passed to the compiled loop as an unbatched argument)."""

  kernel: BodyModel  # reduced to the vertices the fit evaluates
  sample_ids: jax.Array  # (R, K) rows of the reduced vertex output
  sample_valid: jax.Array  # (R, K) bool
  proxy: penetration.PenetrationProxy  # triangles in rows of the reduced vertex output
  proximity_ids: jax.Array  # (M,) rows of the region subsamples (the heuristic's point set)
  pose_prior: priors.GaussianMixturePrior
  use_contact: jax.Array  # () bool: some scene of the batch uses the contact term
  use_proximity: jax.Array  # () bool: some scene of the batch uses the heuristic term
  use_penetration: jax.Array  # () bool: some scene of the batch uses the interpenetration term


@dataclasses.dataclass(frozen=True)
class Fitter:
  """Everything about a fit that depends only on the model and the config (build once, reuse).

  ``posejax.fit`` keeps a few of these cached; build one yourself to control its lifetime.
  """

  model: BodyModel
  config: FitConfig
  regions: RegionMap
  proxy: penetration.PenetrationProxy
  pose_prior: priors.GaussianMixturePrior
  terms: tuple[str, ...]  # the loss terms compiled in (the union over stages)
  groups: tuple[str, ...]  # the parameter groups some stage optimises, in PARAM_FIELDS order
  vertex_ids: np.ndarray  # (N,) model vertex ids the fit evaluates
  shared: _Shared
  fold: Callable  # init (B, P) -> folded per-person model pieces
  loop: tuple  # (jitted init, jitted advance) of the stage loop every stage runs

  @classmethod
  def create(
      cls,
      model: BodyModel,
      config: FitConfig,
      *,
      regions: RegionMap | None = None,
      proxy: penetration.PenetrationProxy | None = None,
      pose_prior: priors.GaussianMixturePrior | None = None,
      terms: Sequence[str] | Sequence[Sequence[str]] | None = None,
  ) -> "Fitter":
    """Builds the model-dependent tables and the stage loop (compiled lazily).

    Args:
      model: the body model.
      config: the stage structure (groups, rates, caps, early stop) and default weights.
      regions: region map; default derived from the model's skinning weights.
      proxy: interpenetration proxy; default built from the model when needed.
      pose_prior: pose prior; default ``priors.default_pose_prior()``.
      terms: loss terms to compile in (a tuple, or one per stage: their union is compiled).
        Default: the terms ``config`` weighs in any stage. Compile a superset to run several
        configs that differ in weights, rates or caps (ablations) with one compiled program:
        ``fitter(..., config=other)``.
    """
    if not isinstance(model, BodyModel):
      raise InvalidInputError(f"fit: model must be a posejax.body.BodyModel, got {type(model)}")
    regions = regions if regions is not None else derive_regions(model, config.region_samples)
    if terms is None:
      terms = config.active_terms()
    elif not all(isinstance(t, str) for t in terms):
      terms = tuple(t for stage_terms in terms for t in stage_terms)
    unknown = set(terms) - set(TERMS)
    if unknown:
      raise InvalidInputError(f"Fitter terms must name loss terms among {TERMS}; got {terms}")
    terms = tuple(t for t in TERMS if t in terms)
    needs_proxy = config.people == 2 and "penetration" in terms
    if proxy is None and needs_proxy:
      proxy = penetration.build_model_proxy(model)
    pose_prior = pose_prior if pose_prior is not None else priors.default_pose_prior()

    sample_ids = np.asarray(regions.sample_ids)
    wanted = [sample_ids.reshape(-1)]
    if proxy is not None:
      wanted.append(np.asarray(proxy.vertex_ids))
    vertex_ids = np.unique(np.concatenate(wanted))
    local = lambda ids: jnp.asarray(np.searchsorted(vertex_ids, np.asarray(ids)), jnp.int32)
    if proxy is not None:
      local_proxy = proxy.reindexed(vertex_ids)
    else:
      local_proxy = penetration.PenetrationProxy(
          vertex_ids=jnp.zeros((0,), jnp.int32), triangle_ids=jnp.zeros((0, 3), jnp.int32))
    shared = _Shared(
        # One compiled program instead of dozens of eagerly compiled operations (seconds).
        kernel=jax.jit(lambda: reduce_model(model, vertex_ids))(),
        sample_ids=local(sample_ids),
        sample_valid=jnp.asarray(regions.sample_valid),
        proxy=local_proxy,
        proximity_ids=local(np.unique(sample_ids)),
        pose_prior=pose_prior,
        use_contact=jnp.ones((), bool),
        use_proximity=jnp.ones((), bool),
        use_penetration=jnp.ones((), bool),
    )
    groups = tuple(name for name in PARAM_FIELDS
                   if any(name in stage.optimize for stage in config.stages))
    fitter = cls(model=model, config=config, regions=regions, proxy=proxy, pose_prior=pose_prior,
                 terms=terms, groups=groups, vertex_ids=vertex_ids, shared=shared,
                 fold=_person_pieces_function(model, vertex_ids), loop=())
    stage = make_stage(fitter._objective(), num_terms=len(TERMS),
                       early_stop_window=config.stages[0].early_stop_window,
                       initial_carry=fitter._initial_carry)
    return dataclasses.replace(fitter, loop=(jax.jit(stage.init), jax.jit(stage.advance)))

  # ------------------------------------------------------------------------------------------
  # The objective of one scene

  def _people(self, free: dict, scene: Scene, shared: _Shared):
    """Forward pass of the scene's people: (P, N, 3) vertices and (P, J, 3) joints."""
    params = {**scene.fixed, **free}

    def one(person, fields):
      kernel = shared.kernel.replace(**person)
      return forward(kernel, BodyParams(**fields))

    out = jax.vmap(one)(scene.person, params)
    return out.vertices, out.joints, params

  def _objective(self):
    active = set(self.terms)
    people = self.config.people

    def objective(free, carry, search, scene: Scene, shared: _Shared):
      vertices, joints, params = self._people(free, scene, shared)
      found = jax.lax.stop_gradient(vertices)
      # Each search runs only at iterations where some scene of the batch is due (a real branch
      # under vmap); the scenes not due keep their carry.
      carry = {term: search[term].renew(
                   lambda term=term: self._search(term, found, scene, shared), carry[term])
               for term in carry}
      zero = lambda: jnp.zeros((), vertices.dtype)
      terms = dict.fromkeys(TERMS, zero())
      # The use_* flags are the same for every scene, so their conds stay real branches under
      # vmap: a stage that does not weigh a term does not pay for it.
      if "keypoints" in active:
        projected = project(scene.camera, body_keypoints.smplx_to_body25(joints))
        terms["keypoints"] = jnp.sum(jax.vmap(keypoint_loss)(projected, scene.keypoints))
      if "contact" in active:
        def contact_term():
          points = vertices[:, shared.sample_ids]  # (P, R, K, 3)
          other = points[1] if people == 2 else None
          return contact_losses.surrogate_contact_loss(
              points[0], other, shared.sample_valid, scene.constraints, carry["contact"])
        terms["contact"] = jax.lax.cond(shared.use_contact, contact_term, zero)
      body_pose = params["body_pose"]
      if "pose_prior" in active:
        energy = jax.vmap(lambda pose: priors.pose_prior_energy(shared.pose_prior, pose))
        terms["pose_prior"] = jnp.sum(energy(body_pose))
      if "init_pose" in active:
        terms["init_pose"] = priors.init_pose_energy(body_pose, scene.anchor["body_pose"])
      if "init_placement" in active and people == 2:
        terms["init_placement"] = priors.init_placement_energy(params["transl"],
                                                               scene.anchor["transl"])
      if "shape" in active:
        terms["shape"] = jnp.sum(jax.vmap(priors.shape_prior_energy)(params["betas"]))
      if "penetration" in active and people == 2:
        def penetration_term():
          queries = vertices[:, shared.proxy.vertex_ids]
          inside, nearest = carry["penetration"]
          return (penetration.penetration_penalty(queries[0], vertices[1], inside[0],
                                                  nearest=nearest[0])
                  + penetration.penetration_penalty(queries[1], vertices[0], inside[1],
                                                    nearest=nearest[1]))
        terms["penetration"] = jax.lax.cond(shared.use_penetration, penetration_term, zero)
      if "proximity" in active and people == 2:
        # Searched at every step: one closest pair of two whole meshes jumps as they move, and a
        # remembered one pulled the wrong points together (synthetic benchmark: 68.7 mm joint
        # error with a search every 10 steps, 61.7 mm with one every step).
        points = vertices[:, shared.proximity_ids]
        terms["proximity"] = jax.lax.cond(
            shared.use_proximity,
            lambda: proximity.min_squared_distance(points[0], points[1]), zero)
      stacked = jnp.stack([terms[t] for t in TERMS])
      # A term this scene does not weigh reads 0, as in a batch where no scene weighs it: a
      # scene's result does not depend on the scenes it was batched with.
      reported = jnp.where(scene.weights != 0, stacked, jnp.zeros_like(stacked))
      return jnp.sum(scene.weights * stacked), (reported, carry)

    return objective

  def searched_terms(self) -> tuple[str, ...]:
    """The compiled terms with a search to remember (keys of the carry)."""
    two = self.config.people == 2
    return tuple(t for t in ("contact", "penetration")
                 if t in self.terms and (t == "contact" or two))

  def _initial_carry(self, free, scene: Scene, shared: _Shared) -> dict:
    """Zeros shaped like the searches' results (a placeholder: the first iteration searches)."""
    vertices = jax.eval_shape(lambda: self._people(free, scene, shared)[0])
    return {term: _zeros_like(jax.eval_shape(
        lambda v, term=term: self._search(term, v, scene, shared), vertices))
            for term in self.searched_terms()}

  def _search(self, term: str, vertices, scene: Scene, shared: _Shared):
    """One loss term's gradient-free search, remembered for some steps (see the module).

    ``"contact"``: a ``ContactSurrogate``. ``"penetration"``: (2, Q) bool, which proxy vertices of
    each person lie inside the other's proxy, and (2, Q) int32, the nearest evaluated vertex of the
    other body to each inside one (the proxy's ~1,000 vertices stand for all 10,475: an inside
    region shows up at the proxy vertices it holds). Zeros when no scene of the batch weighs it.

    Args:
      term: ``"contact"`` or ``"penetration"``.
      vertices: (P, N, 3) the people's evaluated vertices, metres, without gradient.
    """
    if term == "contact":
      points = vertices[:, shared.sample_ids]
      other = points[1] if self.config.people == 2 else None
      run = lambda: contact_losses.contact_surrogate(
          points[0], other, shared.sample_valid, scene.constraints,
          temperature=self.config.contact_softmin, count_empty=self.config.count_empty_samples)
      used = shared.use_contact
    else:
      def run():
        queries = vertices[:, shared.proxy.vertex_ids]
        inside = jnp.stack([penetration.inside_mask(queries[0], vertices[1], shared.proxy),
                            penetration.inside_mask(queries[1], vertices[0], shared.proxy)])
        nearest = jnp.stack([
            penetration.nearest_other_vertices(queries[0], vertices[1], inside[0]),
            penetration.nearest_other_vertices(queries[1], vertices[0], inside[1])])
        return inside, nearest
      used = shared.use_penetration
    return jax.lax.cond(used, run, lambda: _zeros_like(jax.eval_shape(run)))

  # ------------------------------------------------------------------------------------------
  # Running a fit

  def _check_config(self, config: FitConfig | None) -> FitConfig:
    if config is None:
      return self.config
    if config.structure()[:-1] != self.config.structure()[:-1]:
      raise InvalidInputError(
          f"config {config.name!r} differs from the fitter's {self.config.name!r} in its "
          "structure (people, region samples, soft-min, empty-sample rule, early-stop window or "
          "the parameter groups optimised); build a Fitter for it.")
    missing = set(config.active_terms()) - set(self.terms)
    if missing:
      raise InvalidInputError(
          f"config {config.name!r} weighs {sorted(missing)}, which this fitter did not compile; "
          "create it with terms= covering every config you run.")
    return config

  def __call__(
      self,
      image_kp,
      constraints: Constraints | Sequence[Constraints] | None,
      *,
      init: BodyParams,
      camera: Camera | None = None,
      image_size: Sequence[float] | None = None,
      return_vertices: bool = False,
      progress: Progress | bool | None = None,
      chunk_size: int | None = None,
      slots: int | None = None,
      across_processes: bool = False,
      sharding: Any = None,
      config: FitConfig | None = None,
  ) -> FitResult:
    """``posejax.fit`` with this fitter; ``config`` (default: the fitter's) must share its
    structure and compiled terms."""
    config = self._check_config(config)
    streamed = slots is not None or across_processes
    slots = 64 if slots is None else slots
    chunk_size = (25 if streamed else 100) if chunk_size is None else chunk_size
    for name, value in (("slots", slots), ("chunk_size", chunk_size)):
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
    if streamed:
      return self._fit_slots(image_kp, constraints, init, camera, image_size, config,
                             slots=int(slots), chunk_size=int(chunk_size),
                             return_vertices=return_vertices, progress=progress,
                             across_processes=across_processes, sharding=sharding)
    batch_shape, inputs = self._check_inputs(image_kp, constraints, init, camera, image_size,
                                             config)
    keypoints, init_flat, constraints, camera = inputs
    scenes = int(np.prod(batch_shape))
    person = self.fold(init_flat)
    keypoints, missing = prepare_keypoints(self.shared.kernel, person, init_flat, keypoints, camera)
    fell_back = np.reshape(needs_fallback(constraints, config.fallback_min_empty), (scenes,))
    params = {name: getattr(init_flat, name) for name in PARAM_FIELDS}

    report = _progress_function(progress)
    stage_terms, stage_total, iterations, converged = [], [], [], []
    anchor = {name: params[name] for name in ANCHORED}
    init_stage, advance = self.loop
    for index, stage_config in enumerate(config.stages):
      weights = stage_weights(config, index, fell_back, self.model.dtype)
      shared = self.shared_for(weights)
      free = {name: params[name] for name in self.groups}
      fixed = {name: params[name] for name in PARAM_FIELDS if name not in self.groups}
      scene = Scene(keypoints=keypoints, camera=camera, constraints=constraints,
                    weights=jnp.asarray(weights), anchor=anchor, fixed=fixed, person=person)
      if sharding is not None:
        scene, free = _shard((scene, free), sharding)
      state = init_stage(free, scene, shared, self.stage_settings(config, index))
      started = time.perf_counter()
      evaluations = stage_config.max_iters + 1  # the last one scores the final parameters
      step = 0
      while step < evaluations:
        step = min(step + chunk_size, evaluations)
        if step == evaluations - 1:  # the final scoring step joins the last chunk: one report
          step = evaluations
        state = advance(state, scene, shared, step)
        done = int(state.step)
        if report is not None:
          report({"stage": index, "iteration": min(done, stage_config.max_iters),
                  "max_iters": stage_config.max_iters,
                  "stopped": int(jnp.sum(state.stopped)), "scenes": scenes,
                  "median_loss": float(jnp.median(state.loss)),
                  "seconds": time.perf_counter() - started})
        if done < step:  # every scene stopped early
          break
      params = {**params, **state.free}
      anchor = {name: params[name] for name in ANCHORED}
      stage_terms.append(state.terms)
      stage_total.append(state.loss)
      iterations.append(state.iters)
      converged.append(state.stopped)

    outcome = Outcome(
        params=params, stage_terms=np.stack(stage_terms, axis=1),
        stage_total=np.stack(stage_total, axis=1), iterations=np.stack(iterations, axis=1),
        converged=np.stack(converged, axis=1), keypoints=keypoints, missing=missing,
        fell_back=fell_back)
    return self._result(config, batch_shape, outcome, camera, return_vertices)

  def _fit_slots(self, image_kp, constraints, init, camera, image_size, config: FitConfig, *,
                 slots, chunk_size, return_vertices, progress, across_processes,
                 sharding) -> FitResult:
    """``__call__`` with ``slots``: continuous batching (``posejax.streaming``)."""
    if sharding is not None:
      raise InvalidInputError("sharding splits one compiled batch; with slots, use "
                              "across_processes to spread the scenes")
    batch_shape, inputs = self._check_inputs(image_kp, constraints, init, camera, image_size,
                                             config)
    if len(batch_shape) != 1:
      raise InvalidInputError(
          f"fit with slots takes one scene axis: image_kp (scenes, P, 25, 3); got batch shape "
          f"{batch_shape}.")
    keypoints, init_flat, constraints, camera = inputs
    fell_back = needs_fallback(constraints, config.fallback_min_empty)
    run = lambda rows: streaming.fit_scenes(
        self, config, rows, keypoints, init_flat, constraints, camera, fell_back, slots=slots,
        chunk_size=chunk_size, progress=_progress_function(progress, streaming.log_line))
    if across_processes:
      outcome = streaming.fit_across_processes(run, batch_shape[0])
    else:
      outcome = run(np.arange(batch_shape[0]))
    return self._result(config, batch_shape, outcome, camera, return_vertices)

  # ------------------------------------------------------------------------------------------
  # The pieces of a fit call

  def _check_inputs(self, image_kp, constraints, init, camera, image_size, config: FitConfig):
    """The call's inputs checked and flattened to one scene axis.

    Returns:
      ``batch_shape`` and (keypoints (S, P, 25, 3), init ``BodyParams`` (S, P), ``Constraints``
      (S,), ``Camera`` (S,)) as device arrays of the model's dtype.
    """
    people = config.people
    image_kp = fit_inputs.check_keypoints(image_kp, people)
    batch_shape = image_kp.shape[:-3]
    scenes = int(np.prod(batch_shape))
    init = fit_inputs.check_init(self.model, init, batch_shape + (people,))
    constraints = fit_inputs.batch_constraints(constraints, batch_shape, people, scenes)
    # Device arrays, as the continuous batching passes them: one jit cache entry for both.
    constraints = jax.tree_util.tree_map(jnp.asarray, constraints)
    camera = fit_inputs.batch_camera(camera, image_size, batch_shape, scenes, self.model.dtype)
    validation.check_camera(camera)
    validation.check_keypoint_values(np.reshape(image_kp, (scenes,) + image_kp.shape[-3:]), camera)

    flat = lambda x: jnp.reshape(x, (scenes,) + x.shape[len(batch_shape):])
    keypoints = flat(jnp.asarray(image_kp, self.model.dtype))
    init_flat = jax.tree_util.tree_map(flat, init)
    validation.check_init_in_front(
        validation.root_depths(self.model, init_flat.betas, init_flat.transl, camera))
    return batch_shape, (keypoints, init_flat, constraints, camera)

  def stage_settings(self, config: FitConfig, index: int) -> StageSettings:
    """The traced settings of stage ``index`` of ``config`` (the knobs one compiled stage loop
    runs with; the slots scheduler passes them per pool)."""
    stage_config = config.stages[index]
    return StageSettings.create(
        learning_rate=stage_config.learning_rate, max_iters=stage_config.max_iters,
        early_stop_slope=stage_config.early_stop_slope,
        early_stop_relative=stage_config.early_stop_relative,
        search_every={term: getattr(config, f"{term}_search_every")
                      for term in self.searched_terms()},
        trainable={name: name in stage_config.optimize for name in self.groups},
        dtype=self.model.dtype)

  def shared_for(self, weights) -> _Shared:
    """The shared tables with the term switches set for a batch of (B, T) stage weights (a term
    no scene of the batch weighs is skipped at run time)."""
    weights = np.asarray(weights)  # a (B, T) table: host work, no eager device dispatch
    uses = lambda term: jnp.asarray(np.any(weights[:, TERMS.index(term)] != 0))
    return self.shared.replace(use_contact=uses("contact"), use_proximity=uses("proximity"),
                               use_penetration=uses("penetration"))

  def _result(self, config: FitConfig, batch_shape, outcome: Outcome, camera,
              return_vertices: bool) -> FitResult:
    """The ``FitResult`` of per-scene outcomes (leading scene axis S), shaped ``batch_shape``."""
    # The flags on host copies: they feed a warning, and eager device ops would each compile a
    # program. The result keeps the device arrays (and their sharding).
    params = {name: np.asarray(outcome.params[name]) for name in PARAM_FIELDS}
    keypoints = np.asarray(outcome.keypoints)
    stage_terms, stage_total = np.asarray(outcome.stage_terms), np.asarray(outcome.stage_total)
    converged = np.asarray(outcome.converged)
    usable = np.isfinite(keypoints).all(-1) & (np.nan_to_num(keypoints[..., 2]) > 0)
    finite, diverged = validation.result_flags(
        list(params.values()), stage_terms, stage_total,
        stage_terms[:, -1, TERMS.index("keypoints")],
        np.sum(np.where(usable, keypoints[..., 2], 0.0), axis=(1, 2)),
        validation.root_depths(self.model, params["betas"], params["transl"], camera))
    validation.warn_about(finite, diverged, converged)

    unflat = lambda x: jnp.reshape(jnp.asarray(x), tuple(batch_shape) + np.shape(x)[1:])
    final = BodyParams(**{name: unflat(outcome.params[name]) for name in PARAM_FIELDS})
    vertices = None
    if return_vertices:
      vertices = jax.jit(forward)(self.model, final).vertices
    return FitResult(
        params=final,
        stage_terms=unflat(stage_terms),
        stage_total=unflat(stage_total),
        iterations=unflat(outcome.iterations),
        converged=unflat(converged),
        fell_back=unflat(outcome.fell_back),
        finite=unflat(finite),
        diverged=unflat(diverged),
        keypoints_missing=unflat(outcome.missing),
        vertices=vertices,
        metadata={
            "config": config.name,
            "config_settings": config.to_dict(),
            "people": config.people,
            "model_source": self.model.source,
            "synthetic_body": bool(self.model.synthetic),
            "terms": list(TERMS),
            "regions": self.regions.source,
            "evaluated_vertices": int(self.vertex_ids.size),
        },
    )


# ----------------------------------------------------------------------------------------------
# The public entry point


def enable_compilation_cache(directory: str | None = None) -> str:
  """Keeps compiled fit programs on disk (JAX's persistent compilation cache, for every program
  compiled after the call) so that the next process skips compilation; returns the directory.

  Args:
    directory: where to keep the cache; default ``$POSEJAX_CACHE/jax`` (``~/.cache/posejax/jax``
      unless set).
  """
  directory = directory or io_utils.cache_directory("jax")
  if directory is None:
    raise InvalidInputError(f"enable_compilation_cache: {io_utils.CACHE_ENV} is 'off'; pass a "
                            "directory to cache compiled programs anyway")
  from jax.experimental.compilation_cache import compilation_cache

  os.makedirs(directory, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # every size, no overrides
  # JAX decides whether to use the cache at its first compilation; after one, look again.
  compilation_cache.reset_cache()
  return directory


_FITTERS: "collections.OrderedDict[tuple, tuple[Any, Fitter]]" = collections.OrderedDict()
_MAX_CACHED_FITTERS = 4


def fit(
    image_kp,
    constraints: Constraints | Sequence[Constraints] | None,
    *,
    init: BodyParams,
    model: BodyModel | None = None,
    camera: Camera | None = None,
    config: FitConfig | None = None,
    image_size: Sequence[float] | None = None,
    pose_prior: priors.GaussianMixturePrior | None = None,
    regions: RegionMap | None = None,
    return_vertices: bool = False,
    progress: Progress | bool | None = None,
    chunk_size: int | None = None,
    slots: int | None = None,
    across_processes: bool = False,
    sharding: Any = None,
) -> FitResult:
  """Fits SMPL-X bodies to 2D keypoints and language-model contact constraints.

  Without ``slots``, any leading batch shape ``(...)`` fits all its scenes in one compiled program
  until its slowest scene stops. With ``slots`` (a dataset: one scene axis S), each stage has a
  pool of ``slots`` slots running the same compiled stage loop; every ``chunk_size`` steps the
  scenes that stopped leave their slots (for the next stage's pool) and waiting scenes take them,
  so each scene costs its own steps (continuous batching). Either way each scene stops on its own
  early-stop rule and runs the computation of fitting it alone, equal up to float rounding, which
  varies with the batch's size and make-up and which the discrete choices (closest pairs,
  assignments) can amplify over a long fit: 32 hi4d scenes fitted in 16 slots and in 4 differed by
  2.4 mm PA-MPJPE on average, as batches of 16 and 4 do. The same inputs and settings give the
  same results. Scenes whose answers are all empty (or, with ``config.fallback_min_empty``, have
  that many empty answers) use the config's fallback preset (the heuristic baseline for two
  people) in the same batch.

  Args:
    image_kp: (..., P, 25, 3) OpenPose BODY_25 keypoints per person: pixels x, y and confidence.
      NaN coordinates or zero/NaN confidences mark missing keypoints.
    constraints: ``Constraints`` with batch shape ``(...)`` (``Constraints.stack``), a sequence of
      unbatched ones (one per scene, flattened order), or None (no answers: every scene falls back).
    init: initial ``BodyParams`` with leading shape (..., P) (from BEV, HMR2, ...); hands, jaw,
      eyes, expression and global_orient stay at these values.
    model: the body model; default ``posejax.body.default_model()`` (SYNTHETIC: results say so).
    camera: a ``Camera`` shared by all scenes or batched (...); default the reference camera of
      ``image_size``.
    config: ``FitConfig``; default ``FitConfig.two_person()`` or ``one_person()`` by P.
    image_size: (width, height) pixels, for the default camera.
    pose_prior: a ``posejax.losses.priors`` mixture (``load_gmm_prior("gmm_08.pkl")``); default the
      licence-free ``default_pose_prior()``.
    regions: a ``RegionMap``; default derived from the model's skinning weights.
    return_vertices: also return the full final meshes (..., P, V, 3) (memory: 126 kB per person).
    progress: True logs a line per chunk at INFO; a callable receives a dict per chunk (without
      slots ``Progress``'s keys; with them ``"finished"``, ``"scenes"``, ``"running"`` and
      ``"waiting"`` (scenes per stage in a slot and not yet), ``"chunks"`` and ``"seconds"``).
    chunk_size: steps between progress reports, and with ``slots`` between slot swaps (rounded up
      to a multiple of every search interval, so that a pool's scenes search at the same steps);
      default 100, or 25 with ``slots``. The loop stays compiled within a chunk.
    slots: None (one compiled batch), or the scenes per stage that run at once (the compiled batch
      size: a batch of this size without slots shares the program).
    across_processes: with ``slots`` (default 64), after ``jax.distributed.initialize``: each
      process fits its contiguous share of the S scenes and every process returns the results of
      all S (``jax.experimental.multihost_utils.process_allgather``); give every process the same
      inputs.
    sharding: without ``slots``, a ``jax.sharding.Mesh`` (its first axis splits the scenes) or a
      ``Sharding`` for the scene axis, to spread the batch over devices; the scene count must
      divide evenly.

  Returns:
    ``FitResult`` with the batch shape of ``image_kp``, in input order.

  Raises:
    InvalidInputError: misshaped keypoints, params, constraints or camera, non-finite initial
      parameters, a people count the config does not fit; with ``slots``, more than one scene axis,
      ``slots`` or ``chunk_size`` not a positive int, or a ``sharding``.
  """
  if model is None:
    from posejax.body.default_body import default_model  # heavy: built on first use
    model = default_model()
  if config is None:
    config = FitConfig.for_people(fit_inputs.people_of(image_kp))
  fitter = cached_fitter(model, config, regions=regions, pose_prior=pose_prior)
  return fitter(image_kp, constraints, init=init, camera=camera, image_size=image_size,
                return_vertices=return_vertices, progress=progress, chunk_size=chunk_size,
                slots=slots, across_processes=across_processes, sharding=sharding, config=config)


def cached_fitter(model: BodyModel, config: FitConfig, *, regions=None, pose_prior=None) -> Fitter:
  """A ``Fitter`` for (model, ``config.structure()``, regions, prior) from a small LRU cache (the
  only state ``fit`` keeps): configs that differ only in traced values share one."""
  key = (id(model), config.structure(), id(regions), id(pose_prior))
  if key in _FITTERS:
    _FITTERS.move_to_end(key)
    return _FITTERS[key][1]
  fitter = Fitter.create(model, config, regions=regions, pose_prior=pose_prior)
  # Holding the objects keeps their ids from being reused while the entry lives.
  _FITTERS[key] = ((model, regions, pose_prior), fitter)
  while len(_FITTERS) > _MAX_CACHED_FITTERS:
    _FITTERS.popitem(last=False)
  return fitter


# ----------------------------------------------------------------------------------------------
# Helpers of the Fitter


def _person_pieces_function(model: BodyModel, vertex_ids: np.ndarray):
  """A jitted ``init (B, P) -> per-person folded model pieces (B, P, ...)``; hands, jaw, eyes and
  expression are folded at their initial values."""

  def one(frozen: BodyParams) -> dict:
    kernel = reduce_model(model, vertex_ids, frozen, DEFAULT_FROZEN_FIELDS)
    return {name: getattr(kernel, name) for name in PERSON_FIELDS}

  return jax.jit(jax.vmap(jax.vmap(one)))


def _zeros_like(shapes):
  """Zeros of the shapes and dtypes of ``jax.eval_shape``'s result (the branch not taken)."""
  return jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)


def _shard(tree, sharding):
  """Places every leaf's leading (scene) axis across devices."""
  if isinstance(sharding, jax.sharding.Mesh):
    axis = sharding.axis_names[0]
    make = lambda x: jax.sharding.NamedSharding(
        sharding, jax.sharding.PartitionSpec(axis, *([None] * (x.ndim - 1))))
  else:
    make = lambda x: sharding
  return jax.tree_util.tree_map(lambda x: jax.device_put(x, make(jnp.asarray(x))), tree)


def log_stage_progress(info: dict) -> None:
  """The ``progress=True`` line of ``fit``: logged at INFO on the ``posejax.fitting`` logger
  (absl scripts show it; elsewhere ``logging.basicConfig(level=logging.INFO)``)."""
  _log.info("stage %d: iteration %d/%d, %d/%d scenes stopped, median loss %.4g (%.1f s)",
            info["stage"] + 1, info["iteration"], info["max_iters"], info["stopped"],
            info["scenes"], info["median_loss"], info["seconds"])


def _progress_function(progress, log_line=log_stage_progress):
  """None, the callable given, or (``progress=True``) ``log_line``."""
  if progress is None or progress is False:
    return None
  return log_line if progress is True else progress
