"""Fit configuration: stages, optimised parameter groups, learning rates, early stop and loss weights.

A ``FitConfig`` decides the structure of the compiled program (``FitConfig.structure``); the
weights, rates and caps are traced, one set per scene, so a batch can mix presets (fallback scenes
beside the rest) and an ablation does not recompile. The presets are the published settings
(METHOD.md, "Optimization") with the changes their docstrings give (``published=True``: the
paper's).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping

from posejax.body import regions
from posejax.errors import InvalidInputError

OPTIMIZABLE_GROUPS = ("body_pose", "betas", "transl", "global_orient")
"""BodyParams fields a stage may optimise; every other field stays at the initial estimate."""


@dataclasses.dataclass(frozen=True)
class LossWeights:
  """Weights of the loss terms of one stage (dimensionless multipliers; a term weighed zero in
  every stage and preset of a fit is not compiled).

  Attributes:
    keypoints: 2D reprojection term (pixels^2 after the 512-pixel box normalisation).
    contact: the language-model contact term (metres of region distance).
    pose_prior: GMM (or default) body-pose prior energy.
    init_pose: squared distance of body_pose to the stage's anchor pose (radians^2).
    init_placement: two people: squared change of the vector from person 0's root translation to
      person 1's from the stage's anchor (metres^2).
    shape: squared norm of betas.
    penetration: interpenetration penalty between the two bodies.
    proximity: the heuristic baseline's minimum squared distance between the two meshes (metres^2).
  """

  keypoints: float = 0.0
  contact: float = 0.0
  pose_prior: float = 0.0
  init_pose: float = 0.0
  init_placement: float = 0.0
  shape: float = 0.0
  penetration: float = 0.0
  proximity: float = 0.0

  def __post_init__(self):
    for term, value in dataclasses.asdict(self).items():
      if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"loss weight {term!r} must be a finite number >= 0, got {value!r}")

  def replace(self, **changes: float) -> "LossWeights":
    return dataclasses.replace(self, **changes)


TERMS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(LossWeights))
"""Loss term names, in a fixed order (the order of FitResult's per-term loss arrays)."""


@dataclasses.dataclass(frozen=True)
class StageConfig:
  """One Adam stage.

  Attributes:
    optimize: BodyParams fields optimised in this stage (subset of ``OPTIMIZABLE_GROUPS``).
    learning_rate: Adam step size.
    max_iters: iteration cap.
    weights: loss weights of the stage.
    early_stop_window: number of most recent total-loss values the slope is fitted to.
    early_stop_slope: a scene stops when the least-squares slope of that window has an absolute value
      below this (loss units per iteration; the reference's rule); ``0`` disables it.
    early_stop_relative: a scene also stops when that absolute slope is below this fraction of
      the window's mean absolute loss (per iteration); ``0`` (the presets) disables it. A
      throughput choice for large batches, not the default: at 1e-5 (hi4d development split, 32
      scenes) 2.2x fewer steps, joint error unchanged (-0.4 [-3.1, +2.2] mm), contacts a little
      less closed (PCC -0.6 [-1.2, -0.1] points).
  """

  optimize: tuple[str, ...]
  learning_rate: float
  max_iters: int
  weights: LossWeights
  early_stop_window: int = 20
  early_stop_slope: float = 1e-4
  early_stop_relative: float = 0.0

  def __post_init__(self):
    unknown = [g for g in self.optimize if g not in OPTIMIZABLE_GROUPS]
    if unknown or not self.optimize:
      raise InvalidInputError(
          f"StageConfig.optimize must name some of {OPTIMIZABLE_GROUPS}, got {self.optimize!r}")
    if self.max_iters < 0 or self.early_stop_window < 2:
      raise InvalidInputError("StageConfig needs max_iters >= 0 and early_stop_window >= 2")
    if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
      raise InvalidInputError(
          f"StageConfig.learning_rate must be a finite number > 0, got {self.learning_rate!r}")
    for name in ("early_stop_slope", "early_stop_relative"):
      value = getattr(self, name)
      if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"StageConfig.{name} must be a finite number >= 0, got {value!r}")


@dataclasses.dataclass(frozen=True)
class FitConfig:
  """Everything static about a fit.

  Attributes:
    people: 1 or 2 people per scene.
    stages: the Adam stages, run in order, each with a fresh optimiser state and with the
      init-pose and init-placement anchors at the previous stage's result.
    fallback: the preset of scenes whose constraints call for it (``needs_fallback``), with the
      same stage structure and other weights; ``None`` keeps them on this config's weights.
    fallback_min_empty: the t of the CHI3D rule; ``None`` means only all-empty answers fall back.
    region_samples: vertices per region in the fixed, deterministic contact subsample.
    contact_softmin: ``None`` for the exact min over assignments and roles (the reference), or a
      temperature in metres for a soft-min.
    contact_search_every: iterations between the contact loss's gradient-free searches (closest
      pairs, roles, assignments; ``posejax.losses.contact.contact_surrogate``), which are
      remembered in between (ICP-style; see ``posejax.fitting``). 1 (the reference) every step.
    penetration_search_every: the same for the interpenetration inside masks (winding numbers:
      the costliest part of stage 2).
    count_empty_samples: the contact term divides by all N samples (as published), not only the
      non-empty ones.
    name: a label recorded in results.
  """

  people: int
  stages: tuple[StageConfig, ...]
  fallback: "FitConfig | None" = None
  fallback_min_empty: int | None = None
  region_samples: int = regions.DEFAULT_SAMPLES_PER_REGION
  contact_softmin: float | None = None
  contact_search_every: int = 1
  penetration_search_every: int = 10
  count_empty_samples: bool = True
  name: str = "custom"

  def __post_init__(self):
    if self.people not in (1, 2):
      raise InvalidInputError(f"FitConfig.people must be 1 or 2, got {self.people}")
    if not self.stages:
      raise InvalidInputError("FitConfig needs at least one stage")
    if self.contact_softmin is not None and not (math.isfinite(self.contact_softmin)
                                                 and self.contact_softmin > 0):
      raise InvalidInputError(
          f"FitConfig.contact_softmin must be None or a temperature > 0 metres, got "
          f"{self.contact_softmin!r}")
    if min(self.contact_search_every, self.penetration_search_every) < 1:
      raise InvalidInputError(
          "FitConfig.contact_search_every and penetration_search_every must be >= 1, got "
          f"{self.contact_search_every} and {self.penetration_search_every}")
    if len({s.early_stop_window for s in self.stages}) != 1:
      raise InvalidInputError("FitConfig stages must share one early_stop_window (one compiled "
                              "stage loop runs them all)")
    if self.fallback is not None:
      mine = [(s.optimize, s.learning_rate, s.max_iters) for s in self.stages]
      theirs = [(s.optimize, s.learning_rate, s.max_iters) for s in self.fallback.stages]
      if mine != theirs or self.fallback.people != self.people:
        raise InvalidInputError(
            "FitConfig.fallback must share the stage structure (groups, learning rates, caps) and "
            f"people count of the main config; {self.name!r} and {self.fallback.name!r} differ")

  def replace(self, **changes) -> "FitConfig":
    return dataclasses.replace(self, **changes)

  def with_weights(self, **per_term: float | tuple[float, ...]) -> "FitConfig":
    """The same config with some weights changed in every stage (a float) or per stage (a tuple),
    in the fallback preset too (an ablation removes a term from every scene).

    ``config.with_weights(contact=0)`` is the "without L_LMM" ablation.
    """
    stages = []
    for i, stage in enumerate(self.stages):
      changes = {}
      for term, value in per_term.items():
        if term not in TERMS:
          raise InvalidInputError(f"unknown loss term {term!r}; terms are {TERMS}")
        changes[term] = value[i] if isinstance(value, (tuple, list)) else value
      stages.append(dataclasses.replace(stage, weights=stage.weights.replace(**changes)))
    fallback = None if self.fallback is None else self.fallback.with_weights(**per_term)
    return dataclasses.replace(self, stages=tuple(stages), fallback=fallback)

  def with_max_iters(self, *caps: int) -> "FitConfig":
    """The same config (and fallback) with new iteration caps, one per stage or one for all."""
    return self._with_stage_values("max_iters", tuple(int(c) for c in caps))

  def with_learning_rates(self, *rates: float) -> "FitConfig":
    """The same config (and fallback) with new Adam step sizes, one per stage or one for all."""
    return self._with_stage_values("learning_rate", tuple(float(r) for r in rates))

  def with_early_stop_relative(self, *values: float) -> "FitConfig":
    """The same config (and fallback) with new ``early_stop_relative``, per stage or for all."""
    return self._with_stage_values("early_stop_relative", tuple(float(v) for v in values))

  def _with_stage_values(self, field: str, values: tuple) -> "FitConfig":
    if len(values) == 1:
      values = values * len(self.stages)
    if len(values) != len(self.stages):
      raise InvalidInputError(f"{field} needs 1 or {len(self.stages)} values, got {len(values)}")
    stages = tuple(dataclasses.replace(s, **{field: v}) for s, v in zip(self.stages, values))
    fallback = (None if self.fallback is None
                else self.fallback._with_stage_values(field, values))
    return dataclasses.replace(self, stages=stages, fallback=fallback)

  def structure(self) -> tuple:
    """The static part of the config: configs with equal structures share one compiled program.

    Weights, rates, caps, slopes, search intervals and the stage count are traced; turning a
    weight to or from zero changes ``active_terms`` and so the structure.
    """
    return (self.people, self.region_samples, self.contact_softmin, self.count_empty_samples,
            frozenset(s.early_stop_window for s in self.stages),
            frozenset(g for s in self.stages for g in s.optimize), self.active_terms())

  def active_terms(self, stage: int | None = None) -> tuple[str, ...]:
    """Terms with a non-zero weight in this config or its fallback, in one stage or in any
    (the terms compiled into that stage's program)."""
    configs = [self] + ([self.fallback] if self.fallback is not None else [])
    stages = range(len(self.stages)) if stage is None else [stage]
    return tuple(
        t for t in TERMS
        if any(getattr(c.stages[i].weights, t) != 0 for c in configs for i in stages))

  def to_dict(self) -> dict:
    """A JSON-friendly description (recorded with every result)."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, data: Mapping) -> "FitConfig":
    data = dict(data)
    data["stages"] = tuple(
        StageConfig(**{**s, "optimize": tuple(s["optimize"]), "weights": LossWeights(**s["weights"])})
        for s in data["stages"])
    if data.get("fallback") is not None:
      data["fallback"] = cls.from_dict(data["fallback"])
    return cls(**data)

  # Presets: the published settings (METHOD.md), with the changes chosen on the development split.

  @classmethod
  def two_person(cls, *, max_iters: int = 1000, published: bool = False) -> "FitConfig":
    """ProsePose for two people; scenes with all answers empty fall back to the heuristic.

    The paper's weights plus ``init_placement`` at 1000 in both stages, in the fallback too
    (``published=True``: the paper's alone): nothing else resists a person sliding along the depth
    the keypoints leave open, which rows few answers name do. On the development split (32 scenes
    per profile) it lowered PA-MPJPE for N = 20 by 6.8 [1.5, 12.8] mm on hi4d and 10.5 [4.7,
    17.1] on chi3d, and the heuristic's by 19.2 and 15.6 mm. When the initial relative placement
    is far off, trusted contacts are better met with ``published=True`` (the oracle +6.7 mm at
    twice the placement error). The settings tried: ``docs/method_trials.md``.
    """
    fallback = cls.heuristic(max_iters=max_iters)
    if published:
      return cls(people=2, stages=_two_person_stages(max_iters, contact=1000), fallback=fallback,
                 name="prosepose-two-person-published")
    return cls(
        people=2,
        stages=_two_person_stages(max_iters, contact=1000, init_placement=1000),
        fallback=fallback.with_weights(init_placement=1000.0).replace(
            name="heuristic-with-init-placement"),
        name="prosepose-two-person",
    )

  @classmethod
  def for_people(cls, people: int, *, max_iters: int = 1000) -> "FitConfig":
    """The ProsePose preset for ``people`` per scene: ``two_person()`` for 2, ``one_person()`` for 1.

    Args:
      people: people per scene, 1 or 2.
      max_iters: the iteration cap of every stage (the fallback's too).

    Raises:
      InvalidInputError: ``people`` is not 1 or 2.
    """
    if people not in (1, 2):
      raise InvalidInputError(f"the presets fit 1 or 2 people per scene, got people={people!r}")
    if people == 2:
      return cls.two_person(max_iters=max_iters)
    return cls.one_person(max_iters=max_iters)

  @classmethod
  def heuristic(cls, *, max_iters: int = 1000) -> "FitConfig":
    """The heuristic baseline: no language model; the two meshes' closest points pulled together."""
    return cls(
        people=2,
        stages=_two_person_stages(max_iters, proximity=1e4),
        name="heuristic",
    )

  @classmethod
  def one_person(cls, *, max_iters: int = 1000, published: bool = False) -> "FitConfig":
    """ProsePose for one person in self-contact (MOYO weights); all-empty scenes fall back to
    optimisation without contact.

    The paper's weights (``published=True``) with two changes chosen on the moyo development
    split: stage-2 contact 100 instead of 1e4 (stage 1 places the contacts; 1e4 then closes them
    at the joints' cost: PA-MPJPE -2.0 [-3.5, -0.9] mm, 24 scenes) and the init-pose anchor 1600
    instead of 400 (-3.1 [-6.5, -0.1] mm, 96 scenes). The settings tried: ``docs/method_trials.md``.
    """
    return cls(
        people=1,
        stages=_one_person_stages(max_iters, contact=(1e4, 1e4 if published else 100.0),
                                  published=published),
        fallback=cls.no_contact(1, max_iters=max_iters, published=published),
        name="prosepose-one-person" + ("-published" if published else ""),
    )

  @classmethod
  def no_contact(cls, people: int = 2, *, max_iters: int = 1000,
                 published: bool = False) -> "FitConfig":
    """Optimisation without contact ("HMR2+opt"): keypoints and priors only (plus interpenetration
    for two people), weighted as the person count's ProsePose preset (``published``: the
    paper's)."""
    return cls(
        people=people,
        stages=(_two_person_stages(max_iters) if people == 2
                else _one_person_stages(max_iters, published=published)),
        name=f"no-contact-{people}" + ("-published" if published and people == 1 else ""),
    )


def _two_person_stages(max_iters: int, **terms: float) -> tuple[StageConfig, ...]:
  """The two-person stages: keypoints and priors, interpenetration in stage 2, plus ``terms`` (the
  term that brings the people together, and any other) in both."""
  return _two_stages(
      max_iters,
      LossWeights(keypoints=0.04, pose_prior=4, init_pose=200, shape=40, **terms),
      LossWeights(keypoints=0.1, pose_prior=4, init_pose=200, penetration=1000, **terms),
  )


def _one_person_stages(max_iters: int, contact: tuple[float, float] = (0.0, 0.0), *,
                       published: bool = False) -> tuple[StageConfig, ...]:
  """The one-person stages (no pose-prior term, a stiffer init-pose anchor than two people's),
  with ``contact``'s weight in stage 1 and 2."""
  anchor = 400.0 if published else 1600.0
  return _two_stages(
      max_iters,
      LossWeights(keypoints=0.04, init_pose=anchor, shape=40, contact=contact[0]),
      LossWeights(keypoints=0.1, init_pose=anchor, contact=contact[1]),
  )


def _two_stages(max_iters: int, first: LossWeights, second: LossWeights) -> tuple[StageConfig, ...]:
  return (
      StageConfig(("body_pose", "betas", "transl"), 0.01, max_iters, first),
      StageConfig(("body_pose", "transl"), 0.001, max_iters, second),
  )
