"""Export fitted meshes to OBJ, PLY or GLB (through trimesh), several people in one scene file.

Every person gets a distinct vertex colour (``PERSON_COLORS``) and, where the format has names
(OBJ objects, GLB nodes), the name ``person_<i>``. PLY holds a single mesh, so the people are
concatenated into one (still coloured apart). Files are written atomically (temp file + rename).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from posejax.errors import InvalidInputError
from posejax.io_utils import atomic_write_bytes
from posejax.io_utils import atomic_write_text

PERSON_COLORS: tuple[tuple[int, int, int, int], ...] = (
    (66, 135, 245, 255),   # blue
    (245, 130, 48, 255),   # orange
    (60, 180, 75, 255),    # green
    (230, 25, 75, 255),    # red
    (145, 30, 180, 255),   # purple
    (70, 240, 240, 255),   # cyan
    (240, 50, 230, 255),   # magenta
    (128, 128, 0, 255),    # olive
)
"""RGBA (0..255) colour of person i is ``PERSON_COLORS[i % len(PERSON_COLORS)]``."""

MESH_FORMATS = ("obj", "ply", "glb")


def _person_arrays(vertices, faces) -> tuple[list[np.ndarray], list[np.ndarray]]:
  if isinstance(vertices, np.ndarray) or hasattr(vertices, "shape"):
    vertices = np.asarray(vertices)
    if vertices.ndim == 2:
      vertices = vertices[None]
    people = [vertices[i] for i in range(vertices.shape[0])]
  else:
    people = [np.asarray(v) for v in vertices]
  if not people:
    raise InvalidInputError("vertices holds no person")
  if isinstance(faces, np.ndarray) or hasattr(faces, "shape"):
    faces = [np.asarray(faces)] * len(people)
  else:
    faces = [np.asarray(f) for f in faces]
  if len(faces) != len(people):
    raise InvalidInputError(f"{len(people)} people but {len(faces)} face arrays")
  for i, (person, tris) in enumerate(zip(people, faces)):
    if person.ndim != 2 or person.shape[1] != 3:
      raise InvalidInputError(f"vertices of person {i} must be (V, 3), got {person.shape}")
    if not np.all(np.isfinite(person)):
      raise InvalidInputError(f"vertices of person {i} hold NaN or infinite values")
    if tris.ndim != 2 or tris.shape[1] != 3 or not np.issubdtype(tris.dtype, np.integer):
      raise InvalidInputError(f"faces of person {i} must be an integer (F, 3) array, got "
                              f"{tris.dtype} {tris.shape}")
    if tris.size and (tris.min() < 0 or tris.max() >= person.shape[0]):
      raise InvalidInputError(f"faces of person {i} index outside its {person.shape[0]} vertices")
  return people, faces


def person_colors(num_people: int, colors) -> list[np.ndarray]:
  """Per person an RGBA uint8 colour: ``colors`` (one RGB or RGBA per person, each 0..255 or
  0..1 floats) or ``PERSON_COLORS`` when None.

  Raises:
    InvalidInputError: not one colour per person, or a colour of other than 3 or 4 values.
  """
  if colors is None:
    return [np.asarray(PERSON_COLORS[i % len(PERSON_COLORS)], dtype=np.uint8)
            for i in range(num_people)]
  colors = [np.asarray(c, dtype=np.float64).reshape(-1) for c in colors]
  if len(colors) != num_people:
    raise InvalidInputError(f"{num_people} people but {len(colors)} colours")
  out = []
  for color in colors:
    if color.size not in (3, 4):
      raise InvalidInputError(f"a colour must be RGB or RGBA, got {color}")
    if color.max() <= 1.0:  # floats in [0, 1]
      color = color * 255.0
    if color.size == 3:
      color = np.append(color, 255.0)
    out.append(np.clip(np.round(color), 0, 255).astype(np.uint8))
  return out


def build_scene(vertices, faces, colors=None, names: Sequence[str] | None = None):
  """A trimesh scene with one coloured mesh per person.

  Args:
    vertices: (P, V, 3) or (V, 3) array, or a list of (V_i, 3) arrays, in metres.
    faces: (F, 3) int array shared by everyone, or a list of per-person (F_i, 3) arrays.
    colors: per-person RGB/RGBA, 0..255 ints or 0..1 floats; ``PERSON_COLORS`` when None.
    names: per-person node names; ``person_<i>`` when None.

  Returns:
    ``trimesh.Scene``.
  """
  import trimesh  # heavy import, only when exporting

  people, faces = _person_arrays(vertices, faces)
  colors = person_colors(len(people), colors)
  names = [f"person_{i}" for i in range(len(people))] if names is None else list(names)
  if len(names) != len(people) or len(set(names)) != len(names):
    raise InvalidInputError(f"need {len(people)} distinct names, got {names}")
  scene = trimesh.Scene()
  for person, tris, color, name in zip(people, faces, colors, names):
    mesh = trimesh.Trimesh(vertices=person, faces=tris, process=False,
                           vertex_colors=np.tile(color[None, :], (person.shape[0], 1)))
    scene.add_geometry(mesh, node_name=name, geom_name=name)
  return scene


def export_meshes(path: str | os.PathLike, vertices, faces, colors=None,
                  names: Sequence[str] | None = None, file_type: str | None = None) -> str:
  """Writes the meshes of several people into one scene file (OBJ, PLY or GLB), atomically.

  Args:
    path: target file; the format comes from its suffix unless ``file_type`` is given.
    vertices, faces, colors, names: as in ``build_scene``.
    file_type: ``"obj"``, ``"ply"`` or ``"glb"``.

  Returns:
    The path written.

  Raises:
    InvalidInputError: unknown format or malformed vertices/faces/colours.
  """
  path = os.fspath(path)
  kind = (file_type or os.path.splitext(path)[1].lstrip(".")).lower()
  if kind not in MESH_FORMATS:
    raise InvalidInputError(f"cannot export {path!r}: format {kind!r} is not one of {MESH_FORMATS}")
  scene = build_scene(vertices, faces, colors, names)
  if kind == "ply":
    # PLY stores one mesh: merge the people, keeping their vertex colours.
    import trimesh
    merged = trimesh.util.concatenate(list(scene.geometry.values()))
    data = merged.export(file_type="ply")
  else:
    data = scene.export(file_type=kind)
  if isinstance(data, str):  # trimesh returns OBJ as text
    return atomic_write_text(path, data)
  return atomic_write_bytes(path, data)
