"""The paper's table on posejax's SYNTHETIC contact benchmark.

Generates (or reuses) synthetic scenes on the default body, Anny (``posejax.data.synthetic``:
two people in contact, one person in self-contact; exact ground truth, noisy keypoints, a degraded
initial estimate, simulated language-model answers with controllable error rates), fits them
with every method of the paper's tables and scores each fit:

* two people: initial estimate, heuristic, optimisation without contact, posejax with N = 1, 5,
  20 answers, oracle (the true contacts), and the loss ablations (without L_LMM, 2D, GMM, shape,
  init pose, interpenetration); joint PA-MPJPE (mm) and PCC over the true contact pairs;
* one person: initial estimate, optimisation without contact (HMR2+opt), posejax N = 1, 5, 20,
  oracle, and the ablations of the terms its preset weighs; PA-MPJPE and self-contact PCC.

The scenes of a method are fitted in one ``fit`` call (continuous batching through
``--slots`` at a time; each scene runs the computation of its fit alone, equal up to float
rounding, which long fits can amplify: see ``posejax.fit``) and recorded in batches of
that many scenes, the unit a resumed run skips (its refitted scenes share slots differently, so
their numbers can differ from an uninterrupted run's by that rounding); every two-person method runs on ONE fitter compiled with
the union of the methods' loss terms and every method's constraints are padded to the same sizes,
so the whole table compiles once per person count (the configs differ only in weights, which are
traced).

Output in ``--out_dir`` (every file says the numbers are SYNTHETIC):

* ``scenes_two_person.{npz,json}``, ``scenes_one_person.{npz,json}``: the generated scenes, saved
  after each one; a rerun reuses them (and generates more when ``--num_scenes`` grew).
* ``results.jsonl``: one line per (method, batch of scenes) as soon as it is done, with the
  per-scene numbers. A rerun skips every (method, scene) already there; a half-written last line
  (a killed run) is dropped and redone.
* ``benchmark.md``, ``benchmark.csv``: the tables; ``benchmark.png``: PA-MPJPE per method and the
  PCC(tau) curves of the main methods.
* ``run.json``: the generator settings, every method's fit config, the model, the versions: what
  is needed to reproduce the numbers. A rerun into the same folder must have the same settings.

Defaults: 16 two-person and 8 one-person scenes, iteration caps 1000 (stage 1) and 100 (stage 2),
the presets' search intervals (contact choices every step, interpenetration inside masks every 10;
``DEFAULT_MAX_ITERS``; ``--max_iters=1000,1000 --penetration_search_every=1`` is the published
setting). About 15-20 minutes on a 2-core CPU, a third of it generating the scenes (cached).

  .venv/bin/python -m experiments.run_benchmark --out_dir outputs/benchmark
  .venv/bin/python -m experiments.run_benchmark --people 2 --num_scenes 8 --max_iters 300 \\
      --miss_rate 0.5 --hallucination_rate 0.4 --out_dir outputs/benchmark_noisy_answers
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import platform
import time
from typing import Any, Sequence

import jax
import numpy as np
from absl import flags
from absl import logging

from experiments import _cli
import posejax
from posejax import body
from posejax.constraints import Constraints
from posejax.data import benchmark
from posejax.data import benchmark_tables
from posejax.data import synthetic
from posejax.data.synthetic_settings import PROFILES
from posejax.data.synthetic_answers import AnswerSettings
from posejax.errors import InvalidInputError
from posejax.io_utils import atomic_write_bytes
from posejax.io_utils import atomic_write_text
from posejax.io_utils import read_complete_lines
from posejax.io_utils import refuse_changed_settings

RESULTS_NAME = "results.jsonl"
SCENE_FILES = {2: "scenes_two_person", 1: "scenes_one_person"}
SYNTHETIC_NOTE = ("SYNTHETIC: synthetic scenes posed on the default body (Anny, not SMPL-X), "
                  "with simulated keypoints, initial estimates and language-model answers. These "
                  "numbers test the method's machinery; they are not results on photographs or "
                  "real SMPL-X.")
DEFAULT_MAX_ITERS = (1000, 100)
"""Iteration caps of the two stages: stage 1 at the published 1000; stage 2 (lr 0.001, with the
interpenetration term, 10x dearer per step) at 100, so that the default run fits a 2-core CPU in
about a quarter of an hour. Measured on 8 two-person scenes, 1000 stage-2 steps changed the mean
PA-MPJPE by 0.3 to 1.3 mm per method."""
ANSWER_RATE_FIELDS = ("miss_rate", "hallucination_rate", "side_rate", "wrong_side_rate",
                      "empty_rate", "swap_rate", "plural_rate", "correlation")


@dataclasses.dataclass(frozen=True, kw_only=True)
class BenchmarkSettings:
  """Everything a run depends on; the ``_cli.option`` fields are the flags of the same name, the
  others are made from the flags ``define_flags`` adds."""

  out_dir: str = _cli.option("outputs/benchmark", "Folder of the results (resumed when it has "
                             "some).")
  people: tuple[int, ...] = (2, 1)
  profile: str = _cli.option(
      "", "Generator preset named after the dataset it stands in for "
      "(posejax.data.synthetic_settings.PROFILES); --generator_json and the answer flags apply "
      "on top; two-person profiles need --people=2, moyo --people=1.",
      choices=("",) + tuple(sorted(PROFILES)))
  num_scenes: int = _cli.option(16, "Two-person scenes.")
  num_scenes_one: int = _cli.option(8, "One-person scenes.")
  seed: int = _cli.option(0, "Which scenes of the split (the generator's seed is "
                          "posejax.data.benchmark.split_seed(split, seed)).")
  split: str = _cli.option("test", "dev: scenes for choosing settings; test: disjoint scenes, "
                           "only for reporting.", choices=tuple(benchmark.SPLITS))
  max_iters: tuple[int, ...] = _cli.option(
      DEFAULT_MAX_ITERS, "Iteration cap of every stage, or one per stage (published: 1000,1000; "
      "see DEFAULT_MAX_ITERS).")
  contact_search_every: int = _cli.option(
      posejax.FitConfig.contact_search_every, "Search the contact loss's closest pairs and "
      "sample choices every this many iterations (FitConfig.contact_search_every; 1 as "
      "published).")
  penetration_search_every: int = _cli.option(
      posejax.FitConfig.penetration_search_every, "Search the interpenetration inside masks "
      "every this many iterations (FitConfig.penetration_search_every; 1 as published).")
  contact_weight: float | None = _cli.option(
      None, "Contact weight of the posejax, oracle and ablation rows in every stage (default: "
      "the presets', 1000 for two people and 1e4 for one).")
  config_changes: dict = dataclasses.field(default_factory=dict)
  slots: int = _cli.option(16, "Scenes fitted at once (the slots of continuous batching), "
                                "and scenes per record of results.jsonl.")
  samples: tuple[int, ...] = _cli.option(benchmark.DEFAULT_SAMPLES,
                                         "N of the posejax rows (answers per scene).")
  ablations: bool = _cli.option(True, "Run the loss ablations.")
  methods: tuple[str, ...] = _cli.option(
      (), "Only these methods (names as in results.jsonl); default all.")
  generator: dict = dataclasses.field(default_factory=dict)
  answers: dict = dataclasses.field(default_factory=dict)
  pcc_vertices_per_region: int | None = None
  self_contact_vertices_per_region: int | None = 128
  chunk_size: int = _cli.option(25, "Adam steps between the fit's slot swaps (and progress "
                                "reports).")
  fit_progress: bool = _cli.option(False, "Log the fit's progress.")
  plot: bool = _cli.option(True, "Write benchmark.png.")

  def generator_settings(self) -> synthetic.SyntheticSettings:
    """The synthetic generator's settings: the profile's (or the defaults), then ``generator``,
    then ``answers``."""
    seed = benchmark.split_seed(self.split, self.seed)
    base = (synthetic.SyntheticSettings.preset(self.profile, seed=seed) if self.profile
            else synthetic.SyntheticSettings(seed=seed))
    values = base.to_dict()
    values.update(self.generator)
    values["seed"] = seed
    values["answers"] = {**values["answers"], **self.answers}
    answers = values["answers"]
    if answers.get("num_answers", 0) < max(self.samples):
      raise InvalidInputError(f"the generator makes {answers.get('num_answers')} answers per "
                              f"scene but --samples asks for {max(self.samples)}")
    return synthetic.SyntheticSettings.from_dict(values)

  def fit_changes(self) -> dict:
    """``config_changes`` plus the profile's published fallback rule (``Profile.
    fallback_min_empty``, CHI3D's), unless the changes set one."""
    changes = dict(self.config_changes)
    rule = PROFILES[self.profile].fallback_min_empty if self.profile else None
    if rule is not None:
      changes.setdefault("fallback_min_empty", rule)
    return changes

  def search_intervals(self) -> dict[str, int]:
    return {"contact": self.contact_search_every, "penetration": self.penetration_search_every}

  def signature(self) -> dict:
    """The settings that change the numbers: a resumed run must match them."""
    return json.loads(json.dumps({
        "generator": self.generator_settings().to_dict(), "max_iters": list(self.max_iters),
        "contact_search_every": self.contact_search_every,
        "penetration_search_every": self.penetration_search_every,
        "contact_weight": self.contact_weight, "config_changes": self.fit_changes(),
        "pcc_vertices_per_region": self.pcc_vertices_per_region,
        "self_contact_vertices_per_region": self.self_contact_vertices_per_region}))


# ----------------------------------------------------------------------------------------------
# The results file (appended line by line; resumable)


def read_records(path: str) -> list[dict]:
  """Records already written; drops a half-written last line (a killed run) first."""
  content = read_complete_lines(path)
  records = []
  for number, line in enumerate(content.decode("utf-8").splitlines(), 1):
    if not line.strip():
      continue
    try:
      records.append(json.loads(line))
    except ValueError as error:
      raise InvalidInputError(f"{path} line {number} is not JSON ({error}); move the file "
                              "away to start over") from None
  return records


def scene_rows(records: Sequence[dict]) -> dict[tuple[int, str, str], dict]:
  """(people, method, scene id) -> that scene's row, the latest record winning."""
  rows = {}
  for record in records:
    for row in record.get("rows", []):
      rows[(int(record["people"]), record["method"], row["scene_id"])] = row
  return rows


def _json_value(value: Any) -> Any:
  if isinstance(value, (np.floating, float)):
    return None if not np.isfinite(value) else float(value)
  if isinstance(value, (np.integer,)):
    return int(value)
  if isinstance(value, (np.bool_,)):
    return bool(value)
  return value


# ----------------------------------------------------------------------------------------------
# The run


@dataclasses.dataclass
class PeopleRun:
  """One person count's scenes, methods and tools."""

  people: int
  scenes: tuple
  methods: tuple
  inputs: benchmark.SceneInputs
  gt_vertices: np.ndarray
  tools: benchmark.EvaluationTools
  fitter: Any
  constraints: dict  # method name -> list of (Constraints, report) per scene
  sizes: dict


_posed = jax.jit(body.forward)
_FITTERS: dict = {}


def _fitter(model, config, terms):
  """One fitter per (model, config, terms) in this process: its compiled stages are reused by a
  later run in the same process (a resumed run, a test)."""
  key = (id(model), config, terms)
  if key not in _FITTERS:
    _FITTERS[key] = (model, posejax.Fitter.create(model, config, terms=terms))
  return _FITTERS[key][1]


def _vertices(model, params) -> np.ndarray:
  return np.asarray(_posed(model, params).vertices, np.float64)


def _select(tree, indices):
  return jax.tree_util.tree_map(lambda x: np.asarray(x)[np.asarray(indices)], tree)


def _load_scenes(settings: BenchmarkSettings, people: int, model) -> synthetic.SyntheticBenchmark:
  count = settings.num_scenes if people == 2 else settings.num_scenes_one
  started = time.monotonic()

  def progress(done, attempted, item):
    what = getattr(item, "scene_id", None) or f"dropped: {item.reason}"
    logging.info("  %d-person scenes: %d/%d kept after %d attempts (%s) %.0f s", people, done,
                 count, attempted, what, time.monotonic() - started)

  path = os.path.join(settings.out_dir, SCENE_FILES[people])
  logging.info("%d-person scenes: %d wanted (saved in %s.npz/.json as they are made)", people,
               count, path)
  return benchmark.generate_or_resume(path, count, people, settings.generator_settings(), model,
                                      progress=progress)


def prepare_people(settings: BenchmarkSettings, people: int, model) -> PeopleRun:
  """The scenes (made or resumed), methods, constraints, fitter and scoring tools of one person
  count of a run."""
  scenes = _load_scenes(settings, people, model).scenes
  methods = benchmark.benchmark_methods(people, max_iters=settings.max_iters,
                                        samples=settings.samples, ablations=settings.ablations,
                                        search_every=settings.search_intervals(),
                                        contact_weight=settings.contact_weight,
                                        changes=settings.fit_changes())
  if settings.methods:
    unknown = sorted(set(settings.methods) - {m.name for m in methods})
    if unknown:
      raise InvalidInputError(f"--methods names unknown methods {unknown}; the {people}-person "
                              f"methods are {[m.name for m in methods]}")
    methods = tuple(m for m in methods if m.name in settings.methods)
  inputs = benchmark.scene_inputs(scenes, model)
  constraints = {}
  for method in methods:
    if method.config is not None:
      constraints[method.name] = [benchmark.method_constraints(method, s) for s in scenes]
  empty = Constraints.from_pairs([[]], people)
  sizes = Constraints.largest_sizes(
      [empty] + [c for items in constraints.values() for c, _ in items])
  fitted = [m for m in methods if m.config is not None]
  fitter = None
  if fitted:
    # The preset reading contacts names the fitter; the others run on it with their weights.
    main = next((m.config for m in fitted if m.contacts != benchmark.NO_CONTACT), fitted[0].config)
    fitter = _fitter(model, main, benchmark.compiled_terms(fitted))
  tools = benchmark.evaluation_tools(
      model, people, pcc_vertices_per_region=settings.pcc_vertices_per_region,
      self_contact_vertices_per_region=settings.self_contact_vertices_per_region)
  return PeopleRun(people=people, scenes=tuple(scenes), methods=methods, inputs=inputs,
                    gt_vertices=_vertices(model, inputs.gt), tools=tools, fitter=fitter,
                    constraints=constraints, sizes=sizes)


def fit_scenes(settings: BenchmarkSettings, run: PeopleRun, method, indices: list[int]):
  """Fits scenes ``indices`` with continuous batching (``settings.slots`` at a time); returns
  their vertices and details."""
  if method.contacts == benchmark.NO_CONTACT:
    # Empty answers padded like every other method's: same shapes, so no new compilation.
    items = [Constraints.from_pairs([[]], run.people)] * len(indices)
  else:
    items = [run.constraints[method.name][i][0] for i in indices]
  stacked = Constraints.stack(items, **run.sizes)
  result = run.fitter(
      run.inputs.keypoints[indices], stacked, init=_select(run.inputs.init, indices),
      camera=_select(run.inputs.camera, indices), config=method.config, return_vertices=True,
      slots=min(settings.slots, len(indices)), chunk_size=settings.chunk_size,
      progress=settings.fit_progress)
  vertices = np.asarray(result.vertices, np.float64)
  iterations = np.asarray(result.iterations)
  converged = np.asarray(result.converged)
  fell_back = np.asarray(result.fell_back)
  details = []
  for slot, index in enumerate(indices):
    item = {"iterations": float(iterations[slot].sum()),
            "converged": float(bool(converged[slot].all())),
            "fell_back": (None if method.contacts == benchmark.NO_CONTACT
                          else float(bool(fell_back[slot])))}
    for stage in range(iterations.shape[1]):
      item[f"iterations_stage{stage + 1}"] = int(iterations[slot, stage])
    if method.contacts == benchmark.ANSWERS:
      report = run.constraints[method.name][index][1]
      item["parse"] = report.summary() if report is not None else None
    details.append(item)
  return vertices, details


def settings_of_run(out_dir: str) -> BenchmarkSettings:
  """The settings a finished (or started) run recorded in its ``run.json``, ``out_dir`` its
  folder."""
  path = os.path.join(out_dir, "run.json")
  try:
    with open(path, encoding="utf-8") as handle:
      recorded = json.load(handle)["settings"]
    values = {key: tuple(value) if isinstance(value, list) else value
              for key, value in recorded.items()}
    return BenchmarkSettings(**{**values, "out_dir": out_dir})
  except (OSError, ValueError, KeyError, TypeError) as error:
    raise InvalidInputError(f"{path}: not a run_benchmark run file ({error})") from None


def _run_people(settings: BenchmarkSettings, run: PeopleRun, model, handle, done: set) -> None:
  """Fits every method's unfinished scenes at once; writes them as records of ``slots``
  scenes (the unit a resumed run skips)."""
  size = min(settings.slots, len(run.scenes))
  batches = [list(range(i, min(i + size, len(run.scenes)))) for i in range(0, len(run.scenes),
                                                                           size)]
  for method in run.methods:
    pending = [i for i, scene in enumerate(run.scenes)
               if (run.people, method.name, scene.scene_id) not in done]
    if not pending:
      continue
    started = time.monotonic()
    if method.config is None:
      vertices = _vertices(model, _select(run.inputs.init, pending))
      details = [{"iterations": None, "converged": None, "fell_back": None}] * len(pending)
    else:
      vertices, details = fit_scenes(settings, run, method, pending)
    seconds = time.monotonic() - started
    slot_of = {index: slot for slot, index in enumerate(pending)}
    written = []
    for number, batch in enumerate(batches):
      members = [i for i in batch if i in slot_of]
      if not members:
        continue
      rows = []
      for index in members:
        scene, slot = run.scenes[index], slot_of[index]
        row = {"scene_id": scene.scene_id, "kind": scene.kind}
        row.update(benchmark.scene_metrics(run.tools, scene, vertices[slot],
                                           run.gt_vertices[index]))
        row.update(details[slot])
        rows.append({k: _json_value(v) for k, v in row.items()})
      record = {"people": run.people, "method": method.name, "batch": number,
                "scene_ids": [run.scenes[i].scene_id for i in members],
                "seconds": round(seconds * len(members) / len(pending), 3), "synthetic": True,
                "rows": rows}
      handle.write(json.dumps(record) + "\n")
      handle.flush()
      written.extend(rows)
    errors = [r["pa_mpjpe"] for r in written if r.get("pa_mpjpe") is not None]
    pcc = [r["pcc_mean"] for r in written if r.get("pcc_mean") is not None]
    logging.info("[%d people] %-22s %d scenes in %.1f s; PA-MPJPE %.1f mm, PCC %.1f %%",
                 run.people, method.name, len(pending), seconds,
                 np.mean(errors) if errors else np.nan, 100 * np.mean(pcc) if pcc else np.nan)


def _summaries(run: PeopleRun, rows: dict) -> dict[str, dict]:
  out = {}
  ids = [s.scene_id for s in run.scenes]
  for method in run.methods:
    keys = [(run.people, method.name, i) for i in ids]
    found = [rows[key] for key in keys if key in rows]
    if found:
      out[method.name] = benchmark_tables.summarize_method(found)
  return out


def run(settings: BenchmarkSettings) -> dict:
  """Runs (or resumes) the benchmark; returns the paths written and the summaries per person
  count."""
  if settings.slots < 1:
    raise InvalidInputError(f"--slots must be positive, got {settings.slots}")
  if not settings.people or any(p not in (1, 2) for p in settings.people):
    raise InvalidInputError(f"--people must be 1, 2 or both, got {settings.people}")
  os.makedirs(settings.out_dir, exist_ok=True)
  signature = settings.signature()
  run_path = refuse_changed_settings(settings.out_dir, signature, "results of a run")

  model = body.default_model()
  logging.warning("SYNTHETIC benchmark on %s: %s", model.source, SYNTHETIC_NOTE)
  runs = {}
  for people in settings.people:
    runs[people] = prepare_people(settings, people, model)
  _write_run_json(settings, runs, model, run_path, signature)

  results_path = os.path.join(settings.out_dir, RESULTS_NAME)
  records = read_records(results_path)
  done = set(scene_rows(records))
  logging.info("%s: %d scene results already there", results_path, len(done))
  started = time.monotonic()
  with open(results_path, "a", encoding="utf-8") as handle:
    for people in settings.people:
      _run_people(settings, runs[people], model, handle, done)
  logging.info("fitting and scoring took %.0f s", time.monotonic() - started)
  return _write_tables(settings, runs, scene_rows(read_records(results_path)), model)


def _write_run_json(settings, runs, model, path, signature) -> None:
  methods = {people: [m.to_dict() for m in run.methods] for people, run in runs.items()}
  scenes = {people: {"scene_ids": [s.scene_id for s in run.scenes],
                     "kinds": sorted({s.kind for s in run.scenes}),
                     "constraint_sizes": run.sizes}
            for people, run in runs.items()}
  text = json.dumps({
      "synthetic": True, "note": SYNTHETIC_NOTE, "signature": signature,
      "settings": dataclasses.asdict(settings),
      "generator_settings": settings.generator_settings().to_dict(),
      "methods": methods, "scenes": scenes,
      "model_source": model.source, "synthetic_body": bool(model.synthetic),
      "versions": {"posejax": posejax.__version__, "jax": jax.__version__,
                   "numpy": np.__version__, "python": platform.python_version()},
      "device": str(jax.devices()[0]),
  }, indent=1, default=str)
  atomic_write_text(path, text)


def _write_tables(settings, runs, rows, model) -> dict:
  tables, texts, summaries, scene_values = [], [], {}, {}
  for people, run in runs.items():
    summary = _summaries(run, rows)
    summaries[people] = summary
    tables.append((people, run.methods, summary))
    generator = settings.generator_settings()
    configs = [m.config for m in run.methods if m.config is not None]
    notes = [f"**{SYNTHETIC_NOTE}**",
             f"{len(run.scenes)} scenes ({', '.join(sorted({s.kind for s in run.scenes}))}), "
             f"generator seed {generator.seed}; body model {model.source}",
             f"iteration caps {[s.max_iters for s in configs[0].stages]} per stage (Adam, early "
             f"stop on the loss slope); contact choices searched every "
             f"{settings.contact_search_every} and interpenetration inside masks every "
             f"{settings.penetration_search_every} iteration(s)" if configs else "no fits",
             f"answers: {generator.answers.num_answers} per scene, miss rate "
             f"{generator.answers.miss_rate}, hallucination rate "
             f"{generator.answers.hallucination_rate}, empty rate {generator.answers.empty_rate}",
             "contact weight: " + ("the presets' (1000 two people; one person 1e4 in stage 1, "
                                   "100 in stage 2)" if settings.contact_weight is None
                                   else f"{settings.contact_weight:g} (not the published weight)")]
    if people == 2:
      notes.append("PA-MPJPE: joint over both people's 14 LSP joints (one similarity Procrustes, "
                   "better person order); PCC over each scene's true contact pairs, region "
                   "distances over "
                   + (f"{settings.pcc_vertices_per_region} fixed vertices"
                      if settings.pcc_vertices_per_region else "every vertex")
                   + " of the derived coarse regions")
    else:
      notes.append("PA-MPJPE over the 14 LSP joints; self-contact PCC: recall of the true "
                   "self-contact region pairs (2 cm), over the derived coarse regions")
    reference = benchmark_tables.summarize_method([
        benchmark.scene_metrics(run.tools, scene, run.gt_vertices[i], run.gt_vertices[i])
        for i, scene in enumerate(run.scenes)])
    notes.append("the ground truth scored the same way: PCC mean "
                 f"{100 * reference['pcc_mean']:.1f} %, PCC(5 cm) "
                 f"{100 * reference['pcc_05cm']:.1f} % (PCC(0 cm) is 0 by definition, so the "
                 "mean cannot reach 100)")
    f1 = np.array([[v for v in benchmark.answer_f1(s).values()] for s in run.scenes])
    notes.append(f"answer quality (parsed answers against the true pairs, sides ignored): "
                 f"precision {100 * f1[:, 0].mean():.1f} %, recall {100 * f1[:, 1].mean():.1f} %, "
                 f"F1 {100 * f1[:, 2].mean():.1f} %")
    notes.insert(1, f"split {settings.split!r}" + (f", profile {settings.profile!r} ("
                 f"{PROFILES[settings.profile].stands_for})" if settings.profile else ""))
    title = f"posejax on the SYNTHETIC benchmark, {'two people' if people == 2 else 'one person'}"
    by_method = {m.name: {i: rows[(people, m.name, i)] for i in (s.scene_id for s in run.scenes)
                          if (people, m.name, i) in rows} for m in run.methods}
    scene_values[people] = by_method
    main = [m.name for m in run.methods if m.group == "main"]
    texts.append(benchmark_tables.results_markdown(title, run.methods, summary, people, notes=notes)
                 + "\nPaired differences over scenes (mean A - B, 95% bootstrap interval, "
                 "scenes where A is lower / higher):\n\n"
                 + benchmark_tables.paired_markdown(by_method, people)
                 + ("\n" + gap if (gap := benchmark_tables.gap_closed_markdown(by_method, people))
                    else "")
                 + "\nPA-MPJPE (mm) per scene kind:\n\n"
                 + benchmark_tables.per_kind_markdown(by_method, {s.scene_id: s.kind for s in run.scenes},
                                               main))
  paths = {
      "markdown": atomic_write_text(os.path.join(settings.out_dir, "benchmark.md"),
                                    "\n".join(texts)),
      "csv": atomic_write_text(os.path.join(settings.out_dir, "benchmark.csv"),
                               benchmark_tables.results_csv(tables)),
      "results": os.path.join(settings.out_dir, RESULTS_NAME),
      "run": os.path.join(settings.out_dir, "run.json"),
  }
  if settings.plot:
    paths["plot"] = _plot(os.path.join(settings.out_dir, "benchmark.png"), tables, scene_values)
  print("\n".join(texts))
  return {"paths": paths, "summaries": summaries}


PLOT_BASELINE: dict[int, str] = {2: "heuristic", 1: "no_contact"}
"""People -> the method every other is compared with in the plot."""


def _plot(path: str, tables, scene_values) -> str:
  """Per person count: each method's paired PA-MPJPE difference from the baseline with its 95%
  interval, and PCC(tau) curves of the main methods."""
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot

  from posejax import metrics

  figure, axes = pyplot.subplots(len(tables), 2, figsize=(13, 4.8 * len(tables)), squeeze=False)
  taus = 100 * np.asarray(metrics.PCC_THRESHOLDS_M)
  for row, (people, methods, summaries) in enumerate(tables):
    forest, curves = axes[row]
    rows, baseline = scene_values[people], PLOT_BASELINE[people]
    shown = [m for m in methods if m.name in rows and m.name != baseline]
    if baseline in rows:
      for y, method in enumerate(shown):
        d = benchmark_tables.paired_difference(
            *benchmark_tables.scene_values(rows, (method.name, baseline), "pa_mpjpe"))
        color = ("tab:gray" if method.config is None else
                 "tab:blue" if method.group == "main" else "tab:orange")
        forest.errorbar(d["mean"], y, xerr=[[d["mean"] - d["low"]], [d["high"] - d["mean"]]],
                        fmt="o", color=color, capsize=3)
      forest.axvline(0.0, color="black", linewidth=0.8)
      forest.set_yticks(range(len(shown)), [m.label for m in shown], fontsize=8)
      forest.invert_yaxis()
      forest.grid(axis="x", alpha=0.3)
    label = dict((m.name, m.label) for m in methods).get(baseline, baseline)
    forest.set_xlabel(f"PA-MPJPE minus {label}'s, same scenes (mm; 95% bootstrap interval)")
    forest.set_title(f"{'two people' if people == 2 else 'one person'}: lower is better "
                     "(SYNTHETIC)")
    for method in methods:
      if method.group != "main" or method.name not in summaries:
        continue
      summary = summaries[method.name]
      curve = [summary[c] for c in benchmark.dataset_eval.PCC_COLUMNS]
      if np.all(np.isnan(curve)):
        continue
      curves.plot(taus, 100 * np.asarray(curve), marker=".", label=method.label)
    curves.set_xlabel("tau (cm)")
    curves.set_ylabel(("PCC" if people == 2 else "self-contact PCC") + " (%)")
    curves.set_ylim(0, 101)
    curves.grid(alpha=0.3)
    curves.legend(fontsize=7, loc="lower right")
    curves.set_title("PCC(tau) (SYNTHETIC)")
  figure.suptitle("posejax on the synthetic benchmark (synthetic scenes, Anny default body)",
                  fontsize=11)
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110)
  pyplot.close(figure)
  return atomic_write_bytes(path, buffer.getvalue())


# ----------------------------------------------------------------------------------------------
# Flags


def define_flags() -> None:
  """Defines the flags (only when run as a script, so that importing the module defines none)."""
  _cli.define_flags(BenchmarkSettings)
  defaults = AnswerSettings()
  flags.DEFINE_enum("people", "both", ["1", "2", "both"], "Which table: one person, two people "
                    "or both.")
  flags.DEFINE_string("config_json", None, "JSON object of changes to the posejax, oracle and "
                      "ablation rows' FitConfig (posejax.data.benchmark.apply_config_changes), "
                      "e.g. '{\"weights\": {\"contact\": [300, 1000]}}'.")
  flags.DEFINE_string("generator_json", None, "JSON object of SyntheticSettings overrides, e.g. "
                      "'{\"keypoint_noise\": 4.0}'.")
  flags.DEFINE_integer("num_answers", defaults.num_answers, "Simulated answers per scene.")
  for name in ANSWER_RATE_FIELDS:
    flags.DEFINE_float(name, getattr(defaults, name), f"Simulated answers: {name} (see "
                       "posejax.data.synthetic_answers.AnswerSettings).")
  flags.DEFINE_integer("pcc_vertices_per_region", 0, "Two people: fixed vertices per coarse "
                       "region of the PCC (0: every vertex, exact; the paper's 5 are meant for "
                       "its 75 small regions).")
  flags.DEFINE_integer("self_contact_vertices_per_region", 128, "One person: vertices per region "
                       "of the self-contact PCC (0: every vertex, slower).")


def settings_from_flags() -> BenchmarkSettings:
  values = flags.FLAGS
  generator = json.loads(values.generator_json) if values.generator_json else {}
  if not isinstance(generator, dict):
    raise InvalidInputError("--generator_json must be a JSON object")
  # Only the answer flags given on the command line override the profile's (or default) answers.
  answers = {name: getattr(values, name) for name in ANSWER_RATE_FIELDS + ("num_answers",)
             if values[name].present}
  return _cli.settings_from_flags(
      BenchmarkSettings,
      people={"1": (1,), "2": (2,), "both": (2, 1)}[values.people],
      config_changes=json.loads(values.config_json) if values.config_json else {},
      generator=generator, answers=answers,
      pcc_vertices_per_region=values.pcc_vertices_per_region or None,
      self_contact_vertices_per_region=values.self_contact_vertices_per_region or None)


if __name__ == "__main__":
  _cli.run_script(define_flags, lambda: run(settings_from_flags()))
