"""Running the paper's methods on the SYNTHETIC benchmark: methods, batched inputs, scores.

The pieces ``experiments/run_benchmark.py`` wires together: ``benchmark_methods`` (the rows of the
paper's tables), ``generate_or_resume`` (scenes saved one by one), ``scene_inputs`` (``fit``'s
batched arrays), ``method_constraints``, ``evaluation_tools`` / ``scene_metrics`` (the per-scene
numbers) and ``answer_f1``. The tables and paired statistics are in ``benchmark_tables``. Every
number here comes from synthetic scenes posed on a body model (by default Anny, not SMPL-X).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Callable, Iterable, Mapping, Sequence

import jax
import numpy as np

from posejax import metrics
from posejax.body import vocabulary
from posejax.body.regions import derive_regions
from posejax.camera import stack_cameras
from posejax.config import TERMS
from posejax.config import FitConfig
from posejax.constraints import Constraints
from posejax.data import dataset_eval
from posejax.data import synthetic
from posejax.errors import InvalidInputError

NO_CONTACT = "none"
"""``BenchmarkMethod.contacts``: the method reads no contact constraints."""
ANSWERS = "answers"
"""``BenchmarkMethod.contacts``: the scene's first N simulated language-model answers."""
ORACLE = "oracle"
"""``BenchmarkMethod.contacts``: the scene's true contact pairs, repeated N times."""

ABLATIONS: tuple[tuple[str, str, str], ...] = (
    ("without_lmm", "contact", "without L_LMM"),
    ("without_2d", "keypoints", "without 2D keypoints"),
    ("without_gmm", "pose_prior", "without GMM pose prior"),
    ("without_shape", "shape", "without shape prior"),
    ("without_init_pose", "init_pose", "without init pose"),
    ("without_penetration", "penetration", "without interpenetration"),
    ("without_init_placement", "init_placement", "without init placement (published weights)"),
)
"""The loss ablations: (method name, loss term set to zero, table label). The first six are the
paper's; without the init-placement term the two-person preset has the published weights."""

SPLITS: tuple[str, ...] = ("dev", "test")
"""The benchmark's splits: settings are chosen on ``dev`` and reported on ``test``."""


def split_seed(split: str, seed: int = 0) -> int:
  """The generator seed of scene set ``seed`` of a split: ``2 seed`` for test, ``2 seed + 1`` for
  dev, so the two splits never share a scene whatever ``seed``."""
  if split not in SPLITS:
    raise InvalidInputError(f"unknown split {split!r}; splits are {list(SPLITS)}")
  return 2 * int(seed) + (split == "dev")


DEFAULT_SAMPLES: tuple[int, ...] = (1, 5, 20)
"""Answers per scene of the posejax rows (the paper's "more samples help" study)."""


@dataclasses.dataclass(frozen=True)
class BenchmarkMethod:
  """One row of the benchmark table.

  Attributes:
    name: key of the row in result files, e.g. ``"posejax_n20"``.
    label: the row's label in the table.
    config: the fit configuration, or None for the initial estimate (no fit).
    contacts: ``NO_CONTACT``, ``ANSWERS`` or ``ORACLE``.
    samples: N, the answers (or repetitions of the true contacts) per scene.
    group: ``"main"`` or ``"ablation"``.
  """

  name: str
  label: str
  config: FitConfig | None
  contacts: str = NO_CONTACT
  samples: int = 0
  group: str = "main"

  def to_dict(self) -> dict:
    """JSON-ready description (the config in full)."""
    return {"name": self.name, "label": self.label, "contacts": self.contacts,
            "samples": self.samples, "group": self.group,
            "config": None if self.config is None else self.config.to_dict()}


def benchmark_methods(people: int, *, max_iters: int | Sequence[int] = 1000,
                      samples: Sequence[int] = DEFAULT_SAMPLES, oracle_samples: int | None = None,
                      ablations: bool = True, search_every: Mapping[str, int] | None = None,
                      contact_weight: float | None = None,
                      changes: Mapping[str, Any] | None = None) -> tuple[BenchmarkMethod, ...]:
  """The rows of the paper's tables for one or two people, in table order.

  Two people: initial estimate, heuristic, the heuristic with the posejax preset's
  init-placement term (when it weighs one), optimisation without contact, posejax with each N of
  ``samples``, the oracle, and the ablations with the largest N. One person: the same without the
  heuristics ("HMR2+opt" is the fit without contact), and only ablations of terms the preset
  weighs (its GMM and interpenetration weights are zero already).

  Args:
    people: 1 or 2.
    max_iters: iteration cap of every stage, or one cap per stage (the presets have two).
    samples: N of the posejax rows (the first N answers of each scene).
    oracle_samples: N of the oracle row (the true contacts repeated); default ``max(samples)``.
    ablations: include the ablation rows.
    search_every: e.g. ``{"contact": 1, "penetration": 10}``: every method's
      ``FitConfig.<term>_search_every``; None keeps the presets' (1 and 10).
    contact_weight: the contact term's weight in every stage of the posejax, oracle and ablation
      rows (a sensitivity study); None keeps the preset's (1000 for two people, 1e4 for one).
    changes: changes to the posejax, oracle and ablation rows' config (a candidate setting):
      ``"weights"`` maps terms to a weight or one weight per stage (``FitConfig.with_weights``),
      ``"learning_rates"`` is one rate per stage, any other key a ``FitConfig`` field.
  """
  if people not in (1, 2):
    raise InvalidInputError(f"people must be 1 or 2, got {people!r}")
  samples = tuple(int(n) for n in samples)
  if not samples or min(samples) < 1:
    raise InvalidInputError(f"samples must be positive answer counts, got {samples}")
  largest = max(samples)
  oracle_samples = largest if oracle_samples is None else int(oracle_samples)
  caps = (int(max_iters),) if np.ndim(max_iters) == 0 else tuple(int(c) for c in max_iters)
  searches = {}
  for term, every in dict(search_every or {}).items():
    if term not in ("contact", "penetration") or int(every) < 1:
      raise InvalidInputError(f"search_every maps 'contact' or 'penetration' to an interval >= "
                              f"1, got {search_every}")
    searches[f"{term}_search_every"] = int(every)

  def options(config: FitConfig) -> FitConfig:
    config = config.with_max_iters(*caps)
    fallback = None if config.fallback is None else config.fallback.replace(**searches)
    return config.replace(fallback=fallback, **searches)

  full = options(FitConfig.for_people(people))
  if contact_weight is not None:
    full = full.with_weights(contact=float(contact_weight))
  full = apply_config_changes(full, changes or {})
  methods = [BenchmarkMethod("initial", "initial estimate (no fit)", None)]
  if people == 2:
    methods.append(BenchmarkMethod("heuristic", "heuristic (closest points)",
                                   options(FitConfig.heuristic())))
    # The posejax preset's init-placement term helps any two-person fit; this row (the preset's
    # fallback) shows how much of posejax's lead over the heuristic it accounts for.
    if full.fallback.stages[0].weights.init_placement:
      methods.append(BenchmarkMethod(
          "heuristic_placement", "heuristic with posejax's init-placement term",
          options(full.fallback.replace(fallback=None))))
  methods.append(BenchmarkMethod("no_contact", "optimisation without contact (HMR2+opt)",
                                 options(FitConfig.no_contact(people))))
  methods += [BenchmarkMethod(f"posejax_n{n}", f"posejax, N = {n}", full, ANSWERS, n)
              for n in samples]
  methods.append(BenchmarkMethod("oracle", "oracle (true contacts)", full, ORACLE, oracle_samples))
  if ablations:
    weighed = set(full.active_terms())
    for name, term, label in ABLATIONS:
      if term in weighed:
        config = full.with_weights(**{term: 0.0}).replace(name=f"{full.name}-{name}")
        methods.append(BenchmarkMethod(name, f"posejax N = {largest}, {label}", config,
                                       ANSWERS, largest, "ablation"))
  return tuple(methods)


def compiled_terms(methods: Iterable[BenchmarkMethod]) -> tuple[tuple[str, ...], ...]:
  """Per stage, every loss term some method weighs (for ``Fitter.create(..., terms=...)``): one
  fitter then runs every method with one compiled program per stage (weights are traced)."""
  configs = [m.config for m in methods if m.config is not None]
  if not configs:
    return ()
  stages = len(configs[0].stages)
  return tuple(tuple(t for t in TERMS if any(t in c.active_terms(s) for c in configs))
               for s in range(stages))


def _normalised(value: Any) -> Any:
  return json.loads(json.dumps(value))


def generate_or_resume(path: str | os.PathLike, num_scenes: int, people: int,
                       settings: synthetic.SyntheticSettings, model=None, *,
                       kinds: Sequence[str] | None = None, max_attempts: int | None = None,
                       progress: Callable | None = None) -> synthetic.SyntheticBenchmark:
  """``synthetic.generate_benchmark``, saved after every scene and resumed from the saved file.

  A file written with other settings or another person count is an error (use another path); a
  file with more scenes than asked for gives its first ``num_scenes``.

  Args:
    path: file stem of the saved scenes (``synthetic.save_benchmark``).
    num_scenes, people, settings, model, kinds, max_attempts: as ``generate_benchmark``.
    progress: optional ``progress(done, attempted, scene_or_failure)`` after each new scene.

  Raises:
    InvalidInputError: a saved file of other settings, bad arguments, or too many failures.
  """
  if people not in (1, 2):
    raise InvalidInputError(f"people must be 1 or 2, got {people!r}")
  kinds = tuple(kinds) if kinds else synthetic.default_kinds(people, settings)
  wanted = _normalised(settings.to_dict())
  scenes, failures = [], []
  json_path = synthetic.benchmark_paths(path)[1]
  if os.path.isfile(json_path):
    saved = synthetic.load_benchmark(path)
    if _normalised(saved.settings) != wanted:
      raise InvalidInputError(f"{json_path} holds scenes made with other generator settings; "
                              "use another output folder (or delete the file)")
    if any(s.people != people or s.kind not in kinds for s in saved.scenes):
      raise InvalidInputError(f"{json_path} holds scenes of other kinds or person counts than "
                              f"this run asks for ({people} people, kinds {kinds})")
    scenes, failures = list(saved.scenes), list(saved.failures)
  if len(scenes) >= num_scenes:
    return synthetic.SyntheticBenchmark(scenes=tuple(scenes[:num_scenes]),
                                        settings=settings.to_dict(), failures=tuple(failures))
  resume = synthetic.SyntheticBenchmark(scenes=tuple(scenes), settings=wanted,
                                        failures=tuple(failures))

  def save_and_report(done: int, attempted: int, item) -> None:
    (failures if isinstance(item, synthetic.SyntheticFailure) else scenes).append(item)
    synthetic.save_benchmark(synthetic.SyntheticBenchmark(
        scenes=tuple(scenes), settings=settings.to_dict(), failures=tuple(failures)), path)
    if progress is not None:
      progress(done, attempted, item)

  return synthetic.generate_benchmark(num_scenes, people, settings, model, kinds=kinds,
                                      max_attempts=max_attempts, resume=resume,
                                      progress=save_and_report)


def apply_config_changes(config: FitConfig, changes: Mapping[str, Any]) -> FitConfig:
  """``config`` with ``benchmark_methods``' ``changes`` applied (weights, learning rates, fields).

  Raises:
    InvalidInputError: an unknown field or a bad value.
  """
  changes = dict(changes)
  weights = changes.pop("weights", {})
  rates = changes.pop("learning_rates", None)
  unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(FitConfig)})
  if unknown or not isinstance(weights, Mapping):
    raise InvalidInputError(f"config changes: unknown FitConfig fields {unknown} (or 'weights' is "
                            "not a mapping)")
  config = config.replace(**changes) if changes else config
  if weights:
    config = config.with_weights(**{t: tuple(v) if isinstance(v, (list, tuple)) else v
                                    for t, v in weights.items()})
  if rates is not None:
    config = config.with_learning_rates(*rates)
  return config


@dataclasses.dataclass(frozen=True)
class SceneInputs:
  """Scenes as the batched arrays ``fit`` takes (B scenes of P people).

  Attributes:
    keypoints: (B, P, 25, 3) BODY_25 pixels x, y and confidence.
    init: ``BodyParams`` with batch shape (B, P): the initial estimates.
    gt: ``BodyParams`` with batch shape (B, P): the ground truth.
    camera: ``Camera`` with batch shape (B,).
  """

  keypoints: np.ndarray
  init: Any
  gt: Any
  camera: Any


def _stack(items):
  return jax.tree_util.tree_map(lambda *leaves: np.stack([np.asarray(x) for x in leaves]), *items)


def scene_inputs(scenes: Sequence[synthetic.SyntheticScene], model) -> SceneInputs:
  """Stacks synthetic scenes (all with the same number of people) into ``fit``'s inputs for
  ``model``.

  Raises:
    InvalidInputError: no scenes, or scenes with different person counts.
  """
  scenes = list(scenes)
  if not scenes:
    raise InvalidInputError("scene_inputs needs at least one scene")
  people = {s.people for s in scenes}
  if len(people) != 1:
    raise InvalidInputError(f"cannot batch scenes of different person counts {sorted(people)}")
  return SceneInputs(
      keypoints=np.stack([np.asarray(s.keypoints, np.float64) for s in scenes]),
      init=_stack([s.init_params(model) for s in scenes]),
      gt=_stack([s.gt_params(model) for s in scenes]),
      camera=stack_cameras([s.camera() for s in scenes]),
  )


def method_constraints(method: BenchmarkMethod, scene: synthetic.SyntheticScene, *,
                       min_frequency: int | None = None):
  """The constraints a method's fit of a scene reads, and the parse report of its answers.

  Args:
    min_frequency: one person: the frequency filter (default: half the samples, rounded up).

  Returns:
    ``(Constraints, report)``: ``ANSWERS``: the first ``method.samples`` answers parsed and
    their ``ParseReport``; ``ORACLE``: the true pairs in each of ``method.samples`` samples,
    None; ``NO_CONTACT``: None, None.

  Raises:
    InvalidInputError: the scene has fewer answers than the method asks for.
  """
  if method.contacts == NO_CONTACT:
    return None, None
  options = {} if min_frequency is None else {"min_frequency": int(min_frequency)}
  if method.contacts == ORACLE:
    truth = [tuple(pair) for pair in scene.contact_pairs]
    return Constraints.from_pairs([truth] * method.samples, scene.people, **options), None
  if method.contacts != ANSWERS:
    raise InvalidInputError(f"unknown contact source {method.contacts!r}")
  if len(scene.answers) < method.samples:
    raise InvalidInputError(f"scene {scene.scene_id} has {len(scene.answers)} answers; method "
                            f"{method.name} needs {method.samples} (raise the generator's "
                            "answers.num_answers)")
  from posejax import lmm  # the parser lives in the language-model layer
  return lmm.parse(list(scene.answers[:method.samples]), scene.people,
                   return_report=True, **options)


@dataclasses.dataclass(frozen=True)
class EvaluationTools:
  """What scoring a scene needs besides the scene (built once per model and person count).

  Attributes:
    regressor: (14, V) LSP-14 joint regressor of the model.
    region_names: the coarse region names (``vocabulary.RESOLVED_REGIONS``).
    region_vertices: (R, M) fixed vertices per region for the two-person PCC, or None.
    self_contact: the one-person self-contact index, or None.
    gap_vertices: (R, M) every vertex of each region (padded by repetition), for the distances
      of a scene's true contact pairs (``true_pair_gaps``).
  """

  regressor: np.ndarray
  region_names: tuple[str, ...]
  region_vertices: np.ndarray | None
  self_contact: metrics.SelfContactIndex | None
  gap_vertices: np.ndarray


def evaluation_tools(model, people: int, *, pcc_vertices_per_region: int | None = None,
                     self_contact_vertices_per_region: int | None = None) -> EvaluationTools:
  """Regressor and region tables for scoring synthetic scenes of ``people`` on ``model``.

  The regions are the model's derived coarse regions. The paper's PCC takes 5 fixed vertices in
  each of 75 small regions; in the 23 far larger coarse regions 5 points are so sparse that the
  ground truth itself scores only about 70 % at 5 cm, so by default the PCC (two people) and the
  self-contact PCC (one) measure over every vertex of the regions.

  Args:
    pcc_vertices_per_region: two people: fixed vertices per region (farthest-point on the rest
      mesh); None takes every vertex.
    self_contact_vertices_per_region: one person: subsample each region to this many vertices
      (farthest-point) for a faster self-contact PCC; None keeps every vertex.
  """
  regions = derive_regions(model)
  rest = np.asarray(model.v_template, np.float64)
  region_vertices, self_contact = None, None
  if people == 2:
    region_vertices = metrics.fixed_region_vertices(regions, count=pcc_vertices_per_region,
                                                    rest_vertices=rest)
  else:
    self_contact = metrics.build_self_contact_index(
        np.asarray(model.faces), rest, regions,
        max_vertices_per_region=self_contact_vertices_per_region)
  return EvaluationTools(regressor=metrics.lsp14_regressor_for(model),
                         region_names=tuple(regions.names), region_vertices=region_vertices,
                         self_contact=self_contact,
                         gap_vertices=metrics.fixed_region_vertices(regions, count=None))


GAP_THRESHOLDS_MM: tuple[int, ...] = (5, 20)
"""Thresholds of ``true_pair_gaps``' ``gap_within_XXmm`` columns: 5 mm is touching within the
skin's give; 20 mm is the paper's self-contact ground-truth threshold (METHOD.md)."""


def _pair_gaps(tools: EvaluationTools, pred: np.ndarray, pairs) -> np.ndarray:
  """(K,) metres: each (person 0 region, person 1 region) pair's minimum vertex distance (one
  person: both on person 0)."""
  from scipy.spatial import cKDTree

  gaps = []
  for a, b in pairs:
    first = pred[0, np.unique(tools.gap_vertices[a])]
    second = pred[min(1, pred.shape[0] - 1), np.unique(tools.gap_vertices[b])]
    gaps.append(cKDTree(second).query(first)[0].min())
  return np.asarray(gaps, np.float64)


def true_pair_gaps(tools: EvaluationTools, scene: synthetic.SyntheticScene,
                   pred_vertices) -> dict[str, float]:
  """How far apart the predicted meshes leave the scene's true contact pairs.

  The region-pair PCC saturates for one person (the ground truth scores about 95 %, and a fit
  without contact leaves most pairs within 5 cm); each true pair's distance does not.

  Args:
    tools: from ``evaluation_tools``.
    scene: the scene (its ``contact_pairs``: person 0's region, then person 1's; one person: both
      on person 0).
    pred_vertices: (P, V, 3) predicted meshes, metres, in the scene's person order.

  Returns:
    ``gap_mm``: mean over the true pairs of their minimum vertex distance (millimetres);
    ``gap_within_XXmm``: share of true pairs closer than each of ``GAP_THRESHOLDS_MM``.
  """
  pred = np.asarray(pred_vertices, np.float64)
  gaps = 1000.0 * _pair_gaps(tools, pred, contact_pair_indices(scene, tools.region_names))
  out = {"gap_mm": float(gaps.mean()) if gaps.size else math.nan}
  out.update({f"gap_within_{t:02d}mm": float((gaps < t).mean()) if gaps.size else math.nan
              for t in GAP_THRESHOLDS_MM})
  return out


def true_pair_report(tools: EvaluationTools, scene: synthetic.SyntheticScene,
                     pred_vertices) -> list[dict[str, Any]]:
  """Each true contact pair's gap in a prediction, beside its nearest alternatives.

  A true pair left open while its mirrored pair (either or both lateral regions on the other
  side) is closed is a side choice; while its exchanged pair (each region on the other person,
  either side) is closed, a choice of the two people's roles.

  Args:
    tools, scene, pred_vertices: as ``true_pair_gaps``.

  Returns:
    A dict per true pair: ``pair`` (its two region names), ``gap_mm``, ``mirror`` (the nearest
    mirrored pair's names, or None for a pair of central regions) and ``mirror_gap_mm``,
    ``exchanged_gap_mm`` (the nearest exchanged pair; None for one person).
  """
  pred = np.asarray(pred_vertices, np.float64)
  names = list(tools.region_names)

  def gaps(pairs):
    return 1000.0 * _pair_gaps(tools, pred, [(names.index(x), names.index(y)) for x, y in pairs])

  report = []
  for a, b in scene.contact_pairs:
    sides_a, sides_b = {a, vocabulary.mirror(a)}, {b, vocabulary.mirror(b)}
    mirrors = sorted({(x, y) for x in sides_a for y in sides_b} - {(a, b)})
    mirror_gaps = gaps(mirrors) if mirrors else np.zeros(0)
    nearest = int(np.argmin(mirror_gaps)) if mirrors else None
    exchanged = (float(gaps(sorted((y, x) for x in sides_a for y in sides_b)).min())
                 if scene.people == 2 else None)
    report.append({"pair": (a, b), "gap_mm": float(gaps([(a, b)])[0]),
                   "mirror": None if nearest is None else mirrors[nearest],
                   "mirror_gap_mm": None if nearest is None else float(mirror_gaps[nearest]),
                   "exchanged_gap_mm": exchanged})
  return report


GAP_COLUMNS: tuple[str, ...] = ("gap_mm",) + tuple(f"gap_within_{t:02d}mm"
                                                   for t in GAP_THRESHOLDS_MM)
"""The per-scene columns of ``true_pair_gaps``."""


def contact_pair_indices(scene: synthetic.SyntheticScene,
                         region_names: Sequence[str] = vocabulary.RESOLVED_REGIONS) -> np.ndarray:
  """(K, 2) int32 region indices of a scene's true contact pairs (ground-truth person order)."""
  names = list(region_names)
  try:
    return np.array([[names.index(a), names.index(b)] for a, b in scene.contact_pairs],
                    np.int32).reshape(-1, 2)
  except ValueError as error:
    raise InvalidInputError(f"scene {scene.scene_id}: contact pair names a region the evaluation "
                            f"does not know ({error})") from None


def scene_metrics(tools: EvaluationTools, scene: synthetic.SyntheticScene, pred_vertices,
                  gt_vertices) -> dict[str, float]:
  """The paper's per-scene numbers (``dataset_eval.METRIC_COLUMNS``) of one prediction.

  Args:
    tools: from ``evaluation_tools`` for the scene's person count.
    scene: the scene (its true contacts are the PCC's annotated pairs).
    pred_vertices, gt_vertices: (P, V, 3) predicted and ground-truth meshes, metres.

  Returns:
    ``pa_mpjpe`` (mm; two people: joint over both, better person order), ``mpjpe`` (mm),
    ``pcc_mean`` and ``pcc_XXcm`` (fractions), ``true_pair_gaps``' columns, and for two people
    ``swapped``.
  """
  pairs = contact_pair_indices(scene, tools.region_names) if scene.people == 2 else None
  row = dataset_eval.sample_metrics(pred_vertices, gt_vertices, tools.regressor,
                                    contact_pairs=pairs, region_vertices=tools.region_vertices,
                                    self_contact=tools.self_contact)
  row.update(true_pair_gaps(tools, scene, pred_vertices))
  return row


def _set_f1(predicted: set, truth: set) -> tuple[float, float, float]:
  """(precision, recall, F1) of two sets; all 1 when both are empty, a ratio over nothing 0."""
  if not predicted and not truth:
    return 1.0, 1.0, 1.0
  hits = len(predicted & truth)
  precision = hits / len(predicted) if predicted else 0.0
  recall = hits / len(truth) if truth else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
  return precision, recall, f1


def answer_f1(scene: synthetic.SyntheticScene) -> dict[str, float]:
  """Answer-level precision, recall and F1 of a scene's simulated answers (METHOD.md, "LMM answer
  quality"), averaged over its answers.

  A row whose cell lists alternatives counts as the one that matches a true pair, if any. Sides
  are ignored and, for one person, so is the order within a pair.
  """
  from posejax.lmm import parse_answer

  def options(cell):
    return (cell,) if isinstance(cell, str) else tuple(cell)

  truth = (tuple(vocabulary.split_side(name)[1] for name in pair) for pair in scene.contact_pairs)
  true_set = {p if scene.people == 2 else tuple(sorted(p)) for p in truth}
  scores = []
  for text in scene.answers:
    predicted = []
    for row in parse_answer(text, people=scene.people).rows:
      combos = [(a, b) for a in options(row[0]) for b in options(row[-1])]
      keys = [tuple(vocabulary.split_side(n)[1] for n in c) for c in combos]
      keys = [k if scene.people == 2 else tuple(sorted(k)) for k in keys]
      predicted.append(next((k for k in keys if k in true_set), keys[0]))
    scores.append(_set_f1(set(predicted), true_set))
  precision, recall, f1 = np.mean(scores, axis=0) if scores else (math.nan,) * 3
  return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}
