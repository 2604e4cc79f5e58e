"""Checks each synthetic profile's initial estimates against the published initial error.

For every profile of ``posejax.data.synthetic_settings.PROFILES`` it generates ``--num_scenes``
scenes (cycling through the profile's kinds; the contact check is skipped, ``--check`` to keep it,
since it does not change how the initial estimate is made) and prints a Markdown table: the
published initial error the profile stands in for, the generated initial estimates' mean joint
PA-MPJPE (LSP-14, both people aligned together; one person: PA-MPJPE), their ratio, the mean
per-person PA-MPJPE and the relative placement error (pelvis to pelvis, mm, measured with the
focal-length error's uniform depth scale undone). SYNTHETIC scenes on the default body.

  python -m experiments.calibrate_profiles --num_scenes 16
"""

from __future__ import annotations

import json

import numpy as np
from absl import flags
from absl import logging

from experiments import _cli
from posejax.body import default_model
from posejax.data import synthetic
from posejax.data import synthetic_initial
from posejax.data.synthetic_settings import PROFILES
from posejax.io_utils import atomic_write_text


def define_flags() -> None:
  flags.DEFINE_integer("num_scenes", 16, "Scenes per profile.")
  flags.DEFINE_list("profiles", sorted(PROFILES), "Profiles to check.")
  flags.DEFINE_integer("seed", 0, "Generator seed.")
  flags.DEFINE_bool("check", False, "Keep only scenes that pass the contact check.")
  flags.DEFINE_string("out", None, "JSON file of the per-scene numbers (written atomically).")


def calibration_rows(profile: str, num_scenes: int, seed: int = 0, check: bool = False,
                     model=None) -> list[dict]:
  """Per-scene initial errors of ``num_scenes`` scenes of ``profile`` (``initial_errors`` + ids)."""
  settings = synthetic.SyntheticSettings.preset(profile, seed=seed)
  model = default_model() if model is None else model
  kinds = synthetic.default_kinds(PROFILES[profile].people, settings)
  rows, index = [], 0
  while len(rows) < num_scenes:
    kind = kinds[len(rows) % len(kinds)]
    try:
      scene = synthetic.generate_scene(kind, index, settings, model, check=check)
    except synthetic.SceneCheckFailed:
      index += 1
      continue
    undone = synthetic_initial.rescale_distance(
        model, scene.init, float(scene.true_focal_length[0] / scene.focal_length[0]))
    errors = synthetic_initial.initial_errors(model, scene.gt, undone)
    rows.append({"profile": profile, "scene_id": scene.scene_id, **errors,
                 "focal_ratio": float(scene.true_focal_length[0] / scene.focal_length[0])})
    logging.info("%s %s %s", profile, scene.scene_id, errors)
    index += 1
  return rows


def table(rows_by_profile: dict[str, list[dict]]) -> str:
  lines = ["| profile | published initial (mm) | generated joint PA-MPJPE (mm, mean +/- sd) | "
           "ratio | per-person PA-MPJPE (mm) | relative placement (mm) | scenes |",
           "|---|---:|---:|---:|---:|---:|---:|"]
  for name, rows in rows_by_profile.items():
    published = PROFILES[name].values["init_target_pa_mpjpe"]
    pa = np.array([r["pa_mpjpe"] for r in rows])
    person = np.mean([r["person_pa_mpjpe"] for r in rows])
    relative = np.array([r["relative"] for r in rows])
    rel = "-" if np.all(np.isnan(relative)) else f"{np.nanmean(relative):.0f}"
    lines.append(f"| {name} | {published:.0f} | {pa.mean():.1f} +/- {pa.std(ddof=1):.1f} | "
                 f"{pa.mean() / published:.2f} | {person:.1f} | {rel} | {len(rows)} |")
  return "\n".join(lines)


def main() -> None:
  values = flags.FLAGS
  rows = {p: calibration_rows(p, values.num_scenes, values.seed, values.check)
          for p in values.profiles}
  print("SYNTHETIC scenes on the default body: initial estimates per profile\n")
  print(table(rows))
  if values.out:
    atomic_write_text(values.out, json.dumps(rows, indent=1))


if __name__ == "__main__":
  _cli.run_script(define_flags, main)
