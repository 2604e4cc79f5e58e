"""The exported Anny body against Anny's own forward pass, over held-out shapes and poses.

Held-out shapes come from Anny's shape distribution with another seed than the export's, plus
children (morphological age 2-12) drawn on purpose. Poses are every designed pose of the
synthetic benchmark (contact poses) and seeded random ones. For each shape and pose, the same
joint rotations drive both sides:

* posejax: ``forward`` of the exported model with the shape's betas (its least-squares
  projection on the shape space, and separately the betas the stored phenotype map gives);
* Anny: every bone's world pose set to its group's rotation about Anny's own T-posed joint,
  applied after the bone's A-pose-to-T-pose transform, turned into Anny's pose parameters
  (``get_pose_parameterization``) and run through ``anny.Anny.forward``.

Reported: vertex error (mean, p99, max; all vertices and per contact region), joint error, the
asset's size and its cold load time. Needs ``pip install posejax[anny]``.

  ANNY_CACHE_DIR=... .venv/bin/python -m experiments.bench_body_export
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from absl import flags

from experiments._cli import run_script
import posejax.body as pb
from posejax.body import anny_export
from posejax.body.rotations import axis_angle_to_matrix
from posejax.data.synthetic_poses import SCENE_DESIGNS

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("model_path", "posejax/assets/anny_body.npz", "Exported model file.")
  flags.DEFINE_integer("num_shapes", 12, "Held-out shapes from Anny's distribution.")
  flags.DEFINE_integer("num_children", 4, "Extra held-out children (morphological age 2-12).")
  flags.DEFINE_integer("num_random_poses", 12, "Random poses on top of the designed ones.")
  flags.DEFINE_float("random_pose_sigma", 0.35, "Std of the random poses' rotations, radians.")
  flags.DEFINE_integer("seed", 1000, "Seed of the held-out shapes and poses.")
  flags.DEFINE_string("out_dir", "outputs", "Folder of the JSON summary (bench_body_export.json).")


def held_out_phenotypes(anny_model, count: int, children: int, seed: int) -> np.ndarray:
  import torch
  from anny.shape_distribution import SimpleShapeDistribution

  torch.manual_seed(seed)
  labels = anny_export.PHENOTYPE_LABELS
  _, adults = SimpleShapeDistribution(anny_model).sample(count)
  young = torch.distributions.Uniform(torch.tensor(2.0, dtype=anny_model.dtype),
                                      torch.tensor(12.0, dtype=anny_model.dtype))
  _, kids = SimpleShapeDistribution(anny_model, morphological_age_distribution=young
                                    ).sample(children)
  return np.concatenate([np.stack([d[k].numpy() for k in labels], axis=1)
                         for d in (adults, kids)])


def poses(count: int, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
  """(K, 3) global orients, (K, 21, 3) body poses and names: designed, then random."""
  orients, bodies, names = [], [], []
  for kind, design in SCENE_DESIGNS.items():
    for k, person in enumerate(design.persons):
      orients.append(person.global_orient())
      bodies.append(person.body_pose())
      names.append(f"{kind}/{k}")
  rng = np.random.default_rng(seed)
  for k in range(count):
    orients.append(rng.normal(0.0, sigma, 3))
    bodies.append(rng.normal(0.0, sigma, (21, 3)))
    names.append(f"random/{k}")
  return np.asarray(orients), np.asarray(bodies), names


def local_rotations(orient: np.ndarray, body: np.ndarray) -> np.ndarray:
  """(55, 3, 3) local joint rotations: root, body, and the rest at identity."""
  axis_angle = np.zeros((55, 3))
  axis_angle[0] = orient
  axis_angle[1:22] = body
  return np.asarray(axis_angle_to_matrix(axis_angle), np.float64)


def skeleton_transforms(rotations: np.ndarray, joints: np.ndarray) -> np.ndarray:
  """(55, 4, 4) SMPL-algebra world transforms: rotations about ``joints`` down the tree."""
  local = np.tile(np.eye(4), (55, 1, 1))
  local[:, :3, :3] = rotations
  local[:, :3, 3] = joints - np.einsum("jab,jb->ja", rotations, joints)
  return anny_export.chain_transforms(np.asarray(pb.SMPLX_PARENTS), local)


def anny_posed(anny_model, phenotypes: np.ndarray, shapes, posed, groups: np.ndarray,
               rotations: np.ndarray) -> tuple[np.ndarray, float]:
  """(K, V, 3) Anny's own vertices (SMPL-X frame, Anny's origin) for one shape and K poses, and
  the largest gap between the bone poses asked for and those Anny's forward produced."""
  import torch

  axes = np.eye(4)
  axes[:3, :3] = anny_export.ANNY_TO_SMPLX_AXES
  rest = shapes.rest_bone_poses[0]
  desired = []
  for rotation in rotations:
    g = skeleton_transforms(rotation, posed.joints[0])  # SMPL-X frame
    g_anny = axes.T @ g @ axes
    desired.append(g_anny[groups] @ posed.transforms[0] @ rest)
  desired = torch.as_tensor(np.asarray(desired), dtype=anny_model.dtype)
  count = len(rotations)
  kwargs = {k: torch.full((count,), float(v), dtype=anny_model.dtype)
            for k, v in zip(anny_export.PHENOTYPE_LABELS, phenotypes)}
  with torch.no_grad():
    rest_out = anny_model(phenotype_kwargs=kwargs)
    params = anny_model.get_pose_parameterization(
        {"rest_bone_poses": rest_out["rest_bone_poses"], "bone_poses": desired}, "local-ref")
    out = anny_model(pose_parameters=params, phenotype_kwargs=kwargs,
                     pose_parameterization="local-ref")
  gap = float((out["bone_poses"] - desired).abs().max())
  return out["vertices"].numpy() @ anny_export.ANNY_TO_SMPLX_AXES.T, gap


def cold_load_seconds(path: str) -> float:
  code = ("import time; t = time.perf_counter(); import posejax.body as pb; "
          f"pb.load_model({path!r}, num_betas=16, num_expression_coeffs=0, use_pca=False); "
          "print(time.perf_counter() - t)")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
  return float(result.stdout.strip().splitlines()[-1])


def summarise(errors_mm: np.ndarray) -> dict:
  return {"mean_mm": round(float(errors_mm.mean()), 3),
          "p99_mm": round(float(np.percentile(errors_mm, 99)), 3),
          "max_mm": round(float(errors_mm.max()), 3)}


def main() -> None:
  import anny
  import jax
  import jax.numpy as jnp

  anny_model = anny.Anny()
  meta_arrays = pb.io.read_model_file(FLAGS.model_path)
  metadata = json.loads(str(meta_arrays["metadata"]))
  num_betas = int(meta_arrays["num_shape_directions"])
  model = pb.load_model(FLAGS.model_path, num_betas=num_betas, num_expression_coeffs=0,
                        use_pca=False)
  origin = np.asarray(metadata["anny_origin"])  # Anny's origin in the model's frame
  regions = pb.derive_regions(model)
  pheno = held_out_phenotypes(anny_model, FLAGS.num_shapes, FLAGS.num_children, FLAGS.seed)
  rig, shapes = anny_export.read_anny(anny_model, pheno)
  groups = anny_export.joint_groups(rig)
  posed = anny_export.t_pose(rig, shapes, groups)
  orients, bodies, pose_names = poses(FLAGS.num_random_poses, FLAGS.random_pose_sigma,
                                      FLAGS.seed)
  rotations = np.stack([local_rotations(o, b) for o, b in zip(orients, bodies)])

  template = np.asarray(model.v_template, np.float64)
  dirs = np.asarray(model.shapedirs, np.float64).reshape(-1, num_betas)
  offsets = (posed.vertices + origin - template).reshape(len(pheno), -1)
  projected = np.linalg.lstsq(dirs, offsets.T, rcond=None)[0].T
  from posejax.body.phenotypes import PhenotypeMap
  mapped = PhenotypeMap(np.asarray(meta_arrays["phenotype_map"], np.float64)).betas(pheno)

  @jax.jit
  def pose_all(betas):
    params = pb.BodyParams.create(
        model, betas=jnp.broadcast_to(betas, (len(orients), num_betas)),
        global_orient=jnp.asarray(orients, jnp.float32),
        body_pose=jnp.asarray(bodies.reshape(len(bodies), -1), jnp.float32))
    out = pb.forward(model, params)
    return out.vertices, out.joints[:, :55]

  errors = {"projected": [], "phenotype_map": []}
  joint_errors, gaps = [], []
  for s in range(len(pheno)):
    shape = anny_export.AnnyShapes(pheno[s:s + 1], shapes.rest_vertices[s:s + 1],
                                   shapes.rest_bone_poses[s:s + 1])
    one = anny_export.TPosed(posed.vertices[s:s + 1], posed.joints[s:s + 1],
                             posed.transforms[s:s + 1])
    truth, gap = anny_posed(anny_model, pheno[s], shape, one, groups, rotations)
    gaps.append(gap)
    true_joints = np.stack([
        np.einsum("jab,jb->ja", g[:, :3, :3], posed.joints[s]) + g[:, :3, 3]
        for g in (skeleton_transforms(r, posed.joints[s]) for r in rotations)])
    for name, betas in (("projected", projected[s]), ("phenotype_map", mapped[s])):
      vertices, joints = pose_all(jnp.asarray(betas, jnp.float32))
      vertices = np.asarray(vertices, np.float64) - origin
      errors[name].append(np.linalg.norm(vertices - truth, axis=-1) * 1e3)
      if name == "projected":
        joints = np.asarray(joints, np.float64) - origin
        joint_errors.append(np.linalg.norm(joints - true_joints, axis=-1) * 1e3)
  result = {
      "model": FLAGS.model_path, "shapes": len(pheno), "children": FLAGS.num_children,
      "poses": len(pose_names), "num_betas": num_betas,
      "largest_bone_pose_gap": max(gaps),
      "bytes": os.path.getsize(FLAGS.model_path), "cold_load_s": round(cold_load_seconds(FLAGS.model_path), 2),
  }
  for name, values in errors.items():
    values = np.asarray(values)  # (S, K, V)
    result[name] = summarise(values)
    result[name]["children"] = summarise(values[-FLAGS.num_children:]) if FLAGS.num_children else {}
    result[name]["designed_poses"] = summarise(
        values[:, [i for i, n in enumerate(pose_names) if not n.startswith("random")]])
    result[name]["per_region"] = {
        region: summarise(values[:, :, regions.masks[r]])
        for r, region in enumerate(regions.names)}
  result["joints"] = summarise(np.asarray(joint_errors))
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  with open(os.path.join(FLAGS.out_dir, "bench_body_export.json"), "w") as f:
    json.dump(result, f, indent=1)
  print(json.dumps({k: v for k, v in result.items() if k not in ("projected", "phenotype_map")}))
  for name in errors:
    print(name, {k: v for k, v in result[name].items() if k != "per_region"})
  worst = sorted(result["projected"]["per_region"].items(), key=lambda kv: -kv[1]["mean_mm"])
  print("worst regions:", worst[:5])


if __name__ == "__main__":
  run_script(define_flags, main)
