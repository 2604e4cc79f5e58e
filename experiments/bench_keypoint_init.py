"""Initial estimate from keypoints alone vs the simulated regressor init, on synthetic scenes.

For photos without a BEV / HMR2 / SMPL-X estimate, ``posejax.keypoint_init.init_from_keypoints``
makes one from the 2D keypoints (canonical pose at the torso's depth, yaw from shoulders and hips,
a short keypoint-only fit). This script measures it against the synthetic benchmark's simulated regressor
init (``posejax.data.synthetic_initial.degrade``), scene by scene, both as initial estimates and
after the ProsePose fit started from each:

* PA-MPJPE per person (mm; LSP-14 joints regressed from the meshes, each person aligned alone),
* pelvis error (m; the 3D distance to the true pelvis, depth included),
* keypoint error (px; mean distance of projected BODY_25 joints to the confident keypoints).

Paired differences (keypoint init minus simulated init) come with a 95% bootstrap interval over
people. SYNTHETIC scenes on the default body (Anny): these numbers test the machinery.

  python -m experiments.bench_keypoint_init --scenes /tmp/scenes --fit_iters 200
"""

from __future__ import annotations

import json

import jax
import numpy as np
from absl import app
from absl import flags

from posejax import body
from posejax import metrics
from posejax import keypoint_init
from posejax import photos
from posejax.config import FitConfig
from posejax.data import synthetic
from posejax.io_utils import atomic_write_text

FLAGS = flags.FLAGS
flags.DEFINE_string("scenes", None, "A saved synthetic benchmark (posejax.data.save_benchmark); "
                    "default: generate --num_two + --num_one scenes.")
flags.DEFINE_integer("num_two", 6, "Two-person scenes to generate (without --scenes).")
flags.DEFINE_integer("num_one", 4, "One-person scenes to generate (without --scenes).")
flags.DEFINE_integer("init_iters", 100, "Cap of each stage of the keypoint-only fit.")
flags.DEFINE_float("pose_prior", 4.0, "Keypoint-only fit: pose prior weight.")
flags.DEFINE_float("init_pose", 10.0, "Keypoint-only fit: weight of the canonical-pose anchor.")
flags.DEFINE_integer("fit_iters", 0, "Also run the ProsePose fit from each init with this cap "
                     "(0: initial estimates only).")
flags.DEFINE_string("out", None, "JSON file of the per-person numbers (written atomically).")


def _person_errors(model, regressor, params, gt_params, keypoints, camera) -> list[dict]:
  posed = jax.jit(body.forward)
  pred, truth = posed(model, params), posed(model, gt_params)
  rows = []
  for person in range(keypoints.shape[0]):
    pa = float(metrics.pa_mpjpe(metrics.regress_joints(regressor, pred.vertices[person]),
                                metrics.regress_joints(regressor, truth.vertices[person])))
    pelvis = float(np.linalg.norm(np.asarray(pred.joints[person, 0] - truth.joints[person, 0])))
    person_params = jax.tree_util.tree_map(lambda x: x[person:person + 1], params)
    pixels = keypoint_init.keypoint_error_px(model, person_params, keypoints[person:person + 1],
                                             camera)
    rows.append({"pa_mpjpe_mm": pa, "pelvis_m": pelvis, "keypoints_px": pixels})
  return rows


def _interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
  rng = np.random.default_rng(seed)
  means = rng.choice(values, (10000, len(values))).mean(axis=1)
  return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main(argv):
  del argv
  model = body.default_model()
  regressor = metrics.lsp14_regressor_for(model)
  if FLAGS.scenes:
    scenes = list(synthetic.load_benchmark(FLAGS.scenes))
  else:
    scenes = (list(synthetic.generate_benchmark(FLAGS.num_two, people=2, model=model))
              + list(synthetic.generate_benchmark(FLAGS.num_one, people=1, model=model)))
  config = keypoint_init.keypoint_init_config(FLAGS.init_iters, pose_prior=FLAGS.pose_prior,
                                       init_pose=FLAGS.init_pose)
  rows = []
  for scene in scenes:
    camera = scene.camera()
    gt = scene.gt_params(model)
    inits = {"simulated": scene.init_params(model),
             "keypoints": keypoint_init.init_from_keypoints(model, scene.keypoints, camera,
                                                     config=config)}
    for name, init in inits.items():
      stages = [("init", init)]
      if FLAGS.fit_iters:
        answers = photos.PhotoAnswers(
            constraints=_constraints(scene), answers=scene.answers, samples=[], report={},
            source="synthetic", fetched=0, cache_key="", prompt_version="", model="",
            refused=False)
        (done,) = photos.fit_photos(
            model, [photos.PhotoInput(scene.keypoints, camera, init, answers)],
            config=FitConfig.for_people(scene.people, max_iters=FLAGS.fit_iters))
        stages.append(("fit", done.fitted))
      for stage, params in stages:
        for person, row in enumerate(_person_errors(model, regressor, params, gt,
                                                    scene.keypoints, camera)):
          rows.append({"scene": scene.scene_id, "person": person, "init": name, "stage": stage,
                       **row})
    print(scene.scene_id, "done", flush=True)
  print(f"{len(scenes)} synthetic scenes, {sum(s.people for s in scenes)} people; keypoint-only "
        f"fit {FLAGS.init_iters} iterations per stage, pose prior {FLAGS.pose_prior}, anchor "
        f"{FLAGS.init_pose}")
  print("| stage | init | PA-MPJPE mm | pelvis error m | keypoint error px |")
  print("|---|---|---:|---:|---:|")
  for stage in ("init", "fit"):
    for name in ("simulated", "keypoints"):
      chosen = [r for r in rows if r["init"] == name and r["stage"] == stage]
      if chosen:
        print(f"| {stage} | {name} | " + " | ".join(
            f"{np.mean([r[k] for r in chosen]):.{2 if k == 'pelvis_m' else 1}f}"
            for k in ("pa_mpjpe_mm", "pelvis_m", "keypoints_px")) + " |")
  for stage in ("init", "fit"):
    paired = {k: [] for k in ("pa_mpjpe_mm", "pelvis_m", "keypoints_px")}
    ours = [r for r in rows if r["init"] == "keypoints" and r["stage"] == stage]
    theirs = [r for r in rows if r["init"] == "simulated" and r["stage"] == stage]
    for a, b in zip(ours, theirs):
      for key in paired:
        paired[key].append(a[key] - b[key])
    if ours:
      text = ", ".join(f"{key} {np.mean(v):+.3g} [{_interval(np.array(v))[0]:+.3g}, "
                       f"{_interval(np.array(v))[1]:+.3g}] ({sum(x < 0 for x in v)} / {len(v)} "
                       "lower)" for key, v in paired.items())
      print(f"{stage}: keypoint init - simulated init: {text}")
  if FLAGS.out:
    atomic_write_text(FLAGS.out, json.dumps(rows, indent=1))


def _constraints(scene):
  from posejax import lmm
  return lmm.parse(list(scene.answers), people=scene.people)


if __name__ == "__main__":
  app.run(main)
