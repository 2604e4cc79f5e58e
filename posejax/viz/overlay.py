"""PNG overlays of fitted bodies: projected meshes over the image, a side view, the 2D keypoints.

One PNG of side-by-side panels, e.g. ``initial estimate | fit | side view``, one colour per person
(``posejax.viz.export.PERSON_COLORS``). The side view turns the scene about the vertical axis so
that depth errors a front view hides (a person floating behind the other) show up. Everything runs
on the CPU (``posejax.viz.render``); image sizes are ``(width, height)`` pixels, image arrays
``(H, W, 3)`` uint8 (other forms are read with ``posejax.images.as_rgb``).
"""

from __future__ import annotations

import io
import os
from typing import Sequence

import numpy as np

from posejax.body.keypoints import BODY_25_NAMES
from posejax.camera import Camera
from posejax.camera import reference_camera
from posejax.errors import InvalidInputError
from posejax.images import as_rgb
from posejax.io_utils import atomic_write_bytes
from posejax.viz.export import person_colors
from posejax.viz.render import render_mesh
from posejax.viz.render import view_rotation

DEFAULT_ALPHA = 0.6
"""Opacity of the meshes over the image (0: invisible, 1: opaque)."""

DEFAULT_MIN_CONFIDENCE = 0.1
"""Keypoints below this confidence are not drawn."""

_BODY_25_LIMB_NAMES = (
    ("neck", "nose"), ("nose", "right_eye"), ("nose", "left_eye"), ("right_eye", "right_ear"),
    ("left_eye", "left_ear"), ("neck", "right_shoulder"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("neck", "left_shoulder"), ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"), ("neck", "mid_hip"), ("mid_hip", "right_hip"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("right_ankle", "right_heel"),
    ("right_ankle", "right_big_toe"), ("right_big_toe", "right_small_toe"),
    ("mid_hip", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("left_ankle", "left_heel"), ("left_ankle", "left_big_toe"),
    ("left_big_toe", "left_small_toe"),
)
BODY_25_LIMBS: tuple[tuple[int, int], ...] = tuple(
    (BODY_25_NAMES.index(a), BODY_25_NAMES.index(b)) for a, b in _BODY_25_LIMB_NAMES)
"""Pairs of BODY_25 keypoint indices joined by a line when keypoints are drawn."""

_BLANK = (255, 255, 255)
_TITLE_COLOR = (20, 20, 20)
_PANEL_GAP = 4


# ----------------------------------------------------------------------------------------------
# Inputs


def _people_vertices(vertices, what: str) -> np.ndarray:
  people = np.asarray(vertices, dtype=np.float64)
  if people.ndim == 2:
    people = people[None]
  if people.ndim != 3 or people.shape[2] != 3 or people.shape[0] < 1:
    raise InvalidInputError(f"{what} must be (P, V, 3) or (V, 3) metres, got {people.shape}")
  if not np.all(np.isfinite(people)):
    raise InvalidInputError(f"{what} hold NaN or infinite values; nothing sensible to draw")
  return people


def _faces(faces, num_vertices: int) -> np.ndarray:
  faces = np.asarray(faces)
  if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
    raise InvalidInputError(f"faces must be an integer (F, 3) array, got {faces.dtype} "
                            f"{faces.shape}")
  if faces.size and (faces.min() < 0 or faces.max() >= num_vertices):
    raise InvalidInputError(f"faces index outside the {num_vertices} vertices of a person")
  return faces.astype(np.int64)


def _person_colors(count: int, colors) -> np.ndarray:
  """(count, 3) floats in [0, 1] (``posejax.viz.export.person_colors`` without alpha)."""
  return np.stack(person_colors(count, colors))[:, :3] / 255.0


def _single_camera(camera: Camera | None, image_size, image: np.ndarray | None) -> Camera:
  """The camera of a picture: given, or the reference camera of the image (size)."""
  if camera is not None:
    if not isinstance(camera, Camera):
      raise InvalidInputError(
          f"camera must be a posejax.camera.Camera, got {type(camera).__name__}")
    if np.ndim(camera.focal_length) != 1:
      raise InvalidInputError(
          f"camera is batched (focal_length {np.shape(camera.focal_length)}); pass one scene's "
          "camera, e.g. jax.tree_util.tree_map(lambda x: x[i], camera)")
    return camera
  if image_size is None and image is not None:
    image_size = (image.shape[1], image.shape[0])
  if image_size is None:
    raise InvalidInputError("give a camera, an image or image_size=(width, height) in pixels")
  width, height = (float(v) for v in image_size)
  return reference_camera(width, height)


def camera_frame(camera: Camera, vertices: np.ndarray) -> np.ndarray:
  """(..., 3) world points in the camera's frame (x right, y down, z forward), numpy, metres."""
  rotation = np.asarray(camera.rotation, dtype=np.float64)
  translation = np.asarray(camera.translation, dtype=np.float64)
  return np.asarray(vertices, dtype=np.float64) @ rotation.T + translation


def _intrinsics(camera: Camera) -> tuple[tuple[float, float, float, float], tuple[int, int]]:
  fx, fy = (float(v) for v in np.asarray(camera.focal_length))
  cx, cy = (float(v) for v in np.asarray(camera.principal_point))
  width, height = (int(round(float(v))) for v in np.asarray(camera.image_size))
  return (fx, fy, cx, cy), (width, height)


# ----------------------------------------------------------------------------------------------
# Panels


def _render_scene(people_camera: np.ndarray, faces: np.ndarray, colors: np.ndarray,
                  intrinsics, background: np.ndarray) -> np.ndarray:
  """Every person in one z-buffer (so people occlude each other correctly)."""
  count, num_vertices = people_camera.shape[:2]
  all_faces = np.concatenate([faces + i * num_vertices for i in range(count)])
  vertex_colors = np.repeat(colors, num_vertices, axis=0)
  return render_mesh(people_camera.reshape(-1, 3), all_faces, vertex_colors=vertex_colors,
                     intrinsics=intrinsics, background=background,
                     image_size=background.shape[:2])


def render_people(vertices, faces, camera: Camera | None = None, *,
                  image: np.ndarray | str | os.PathLike | None = None,
                  image_size: Sequence[int] | None = None, colors=None,
                  alpha: float = DEFAULT_ALPHA) -> np.ndarray:
  """Projects the people's meshes through the camera, semi-transparent over the image.

  Args:
    vertices: (P, V, 3) or (V, 3) meshes in world coordinates (the camera frame for the
      reference camera), metres.
    faces: (F, 3) triangles shared by everyone (``model.faces``).
    camera: one scene's ``Camera``; the reference camera of the image (size) if None.
    image: (H, W, 3) uint8 array or image file to draw on; a white canvas if None.
    image_size: (width, height) pixels of the canvas when there is no image (and no camera).
    colors: one RGB or RGBA per person (0..255 or 0..1); ``PERSON_COLORS`` if None.
    alpha: mesh opacity in [0, 1].

  Returns:
    (H, W, 3) uint8 picture.

  Raises:
    InvalidInputError: misshaped inputs, or an image whose size differs from the camera's.
  """
  if not 0.0 <= float(alpha) <= 1.0:
    raise InvalidInputError(f"alpha must lie in [0, 1], got {alpha}")
  people = _people_vertices(vertices, "vertices")
  faces = _faces(faces, people.shape[1])
  picture = None if image is None else as_rgb(image)
  camera = _single_camera(camera, image_size, picture)
  intrinsics, (width, height) = _intrinsics(camera)
  if picture is None:
    picture = np.full((height, width, 3), _BLANK, dtype=np.uint8)
  elif picture.shape[:2] != (height, width):
    raise InvalidInputError(
        f"the image is {picture.shape[1]}x{picture.shape[0]} pixels but the camera's image size "
        f"is {width}x{height}; pass the camera the image was taken with (or resize the image)")
  colors = _person_colors(people.shape[0], colors)
  rendered = _render_scene(camera_frame(camera, people), faces, colors, intrinsics, picture)
  # The renderer leaves uncovered pixels exactly as the background, so blending the whole image
  # changes only the pixels a mesh covers.
  blended = (1.0 - alpha) * picture.astype(np.float64) + alpha * rendered.astype(np.float64)
  return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def turn_about_vertical(points: np.ndarray, degrees: float, center: np.ndarray) -> np.ndarray:
  """Turns camera-frame points about the vertical (y) axis through ``center``.

  Args:
    points: (..., 3) camera-frame points, metres.
    degrees: turn angle; positive angles bring the image's left side (-x) towards the camera
      and take its right side away.
    center: (3,) a point on the axis, metres.

  Returns:
    (..., 3) turned points.
  """
  rotation = view_rotation(float(degrees))
  center = np.asarray(center, dtype=np.float64)
  return (np.asarray(points, dtype=np.float64) - center) @ rotation.T + center


def render_side_view(vertices, faces, camera: Camera | None = None, *,
                     image_size: Sequence[int] | None = None, degrees: float = 90.0,
                     colors=None, background: Sequence[int] = _BLANK) -> np.ndarray:
  """The scene turned about the camera's y axis through the middle of the people's bounding box,
  rendered opaque with the same camera on a plain canvas.

  Args:
    vertices, faces, camera, image_size, colors: as in ``render_people``.
    degrees: turn angle (90: the scene as seen from the left edge of the image).
    background: (3,) RGB 0..255 of the canvas.

  Returns:
    (H, W, 3) uint8 picture.
  """
  people = _people_vertices(vertices, "vertices")
  faces = _faces(faces, people.shape[1])
  camera = _single_camera(camera, image_size, None)
  intrinsics, (width, height) = _intrinsics(camera)
  in_camera = camera_frame(camera, people)
  used = np.unique(faces)
  points = in_camera[:, used].reshape(-1, 3)
  center = 0.5 * (points.min(axis=0) + points.max(axis=0))
  turned = turn_about_vertical(in_camera, degrees, center)
  canvas = np.empty((height, width, 3), dtype=np.uint8)
  canvas[:] = np.asarray(background, dtype=np.uint8).reshape(3)
  return _render_scene(turned, faces, _person_colors(people.shape[0], colors), intrinsics, canvas)


def draw_keypoints(image: np.ndarray, keypoints, *, colors=None,
                   min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                   radius: float | None = None) -> np.ndarray:
  """Draws BODY_25 keypoints and their limbs, one colour per person.

  Args:
    image: (H, W, 3) uint8 picture (not changed).
    keypoints: (P, 25, 3) or (25, 3) pixels x, y and confidence; NaN or low-confidence points
      (and limbs touching them) are skipped.
    colors: per-person RGB; ``PERSON_COLORS`` if None.
    min_confidence: points with a lower confidence are not drawn.
    radius: dot radius in pixels; scaled to the image if None.

  Returns:
    (H, W, 3) uint8 copy with the keypoints drawn.
  """
  from PIL import Image
  from PIL import ImageDraw

  picture = as_rgb(image)
  points = np.asarray(keypoints, dtype=np.float64)
  if points.ndim == 2:
    points = points[None]
  if points.ndim != 3 or points.shape[1:] != (len(BODY_25_NAMES), 3):
    raise InvalidInputError(f"keypoints must be (P, 25, 3) BODY_25 pixels + confidence, got "
                            f"{points.shape}")
  colors = _person_colors(points.shape[0], colors)
  height, width = picture.shape[:2]
  radius = max(1.5, max(height, width) / 220.0) if radius is None else float(radius)
  canvas = Image.fromarray(picture)
  draw = ImageDraw.Draw(canvas)
  for person, color in zip(points, colors):
    # A darker shade of the person's mesh colour stays visible over the mesh itself.
    rgb = tuple(int(round(c * 255 * 0.75)) for c in color)
    shown = np.isfinite(person).all(axis=1) & (np.nan_to_num(person[:, 2]) >= min_confidence)
    for a, b in BODY_25_LIMBS:
      if shown[a] and shown[b]:
        draw.line([tuple(person[a, :2]), tuple(person[b, :2])], fill=rgb,
                  width=max(1, int(round(radius * 0.6))))
    for x, y in person[shown, :2]:
      draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=rgb,
                   outline=(255, 255, 255))
  return np.asarray(canvas, dtype=np.uint8).copy()


def compose_panels(panels: Sequence[np.ndarray], titles: Sequence[str] | None = None,
                   background: Sequence[int] = _BLANK) -> np.ndarray:
  """Puts pictures side by side (top-aligned, a small gap), each under an optional title.

  Args:
    panels: (H_i, W_i, 3) uint8 pictures.
    titles: one caption per panel (or None).
    background: (3,) RGB 0..255 of the gaps and title strip.

  Returns:
    (H, W, 3) uint8 picture.
  """
  from PIL import Image
  from PIL import ImageDraw

  panels = [as_rgb(p) for p in panels]
  if not panels:
    raise InvalidInputError("compose_panels needs at least one panel")
  if titles is not None and len(titles) != len(panels):
    raise InvalidInputError(f"{len(panels)} panels but {len(titles)} titles")
  tallest = max(p.shape[0] for p in panels)
  title_height = 0 if not titles else max(14, tallest // 24)
  width = sum(p.shape[1] for p in panels) + _PANEL_GAP * (len(panels) - 1)
  canvas = Image.new("RGB", (width, tallest + title_height), tuple(int(c) for c in background))
  draw = ImageDraw.Draw(canvas)
  font = _font(max(10, title_height - 4)) if titles else None
  left = 0
  for index, panel in enumerate(panels):
    canvas.paste(Image.fromarray(panel), (left, title_height))
    if titles:
      draw.text((left + 4, 1), str(titles[index]), fill=_TITLE_COLOR, font=font)
    left += panel.shape[1] + _PANEL_GAP
  return np.asarray(canvas, dtype=np.uint8).copy()


def _font(size: int):
  from PIL import ImageFont

  try:
    return ImageFont.load_default(size=size)
  except TypeError:  # Pillow < 10.1 has one fixed-size default font
    return ImageFont.load_default()


def encode_png(image: np.ndarray) -> bytes:
  """PNG bytes of an (H, W, 3) uint8 picture."""
  from PIL import Image

  buffer = io.BytesIO()
  Image.fromarray(as_rgb(image)).save(buffer, format="PNG")
  return buffer.getvalue()


def write_png(path: str | os.PathLike, image: np.ndarray) -> str:
  """Writes a picture as PNG atomically (temporary file, then rename); returns the path."""
  return atomic_write_bytes(path, encode_png(image))


# ----------------------------------------------------------------------------------------------
# The overlay figure


def overlay_figure(faces, fitted, *, initial=None, camera: Camera | None = None,
                   image: np.ndarray | str | os.PathLike | None = None,
                   image_size: Sequence[int] | None = None, keypoints=None, colors=None,
                   alpha: float = DEFAULT_ALPHA, side_view: bool = True,
                   titles: Sequence[str] | None = None) -> np.ndarray:
  """The panels ``[initial estimate |] fit [| side view]`` as one picture.

  Args:
    faces: (F, 3) triangles (``model.faces``).
    fitted: (P, V, 3) fitted meshes, world coordinates, metres.
    initial: (P, V, 3) initial-estimate meshes for a first panel, or None.
    camera, image, image_size, colors, alpha: as in ``render_people``.
    keypoints: (P, 25, 3) BODY_25 keypoints drawn on the overlay panels, or None.
    side_view: add the fit turned 90 degrees about the vertical axis.
    titles: captions, one per panel; defaults name the panels.

  Returns:
    (H, W', 3) uint8 picture.
  """
  picture = None if image is None else as_rgb(image)
  camera = _single_camera(camera, image_size, picture)
  meshes = [fitted] if initial is None else [initial, fitted]
  names = ["fit"] if initial is None else ["initial estimate", "fit"]
  panels = []
  for mesh in meshes:
    panel = render_people(mesh, faces, camera, image=picture, colors=colors, alpha=alpha)
    if keypoints is not None:
      panel = draw_keypoints(panel, keypoints, colors=colors)
    panels.append(panel)
  if side_view:
    panels.append(render_side_view(fitted, faces, camera, colors=colors))
    names.append("fit, side view")
  return compose_panels(panels, names if titles is None else titles)


def save_overlay(path: str | os.PathLike, faces, fitted, **options) -> str:
  """Writes :func:`overlay_figure` (same arguments) as a PNG at ``path`` atomically (its folder
  created when missing); returns the path."""
  return write_png(path, overlay_figure(faces, fitted, **options))
