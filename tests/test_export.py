"""Mesh export: files load back in trimesh with the right counts and colours, written atomically."""

from __future__ import annotations

import os

import numpy as np
import pytest
import trimesh

from posejax import io_utils
from posejax.errors import InvalidInputError
from posejax.viz import export


@pytest.fixture(scope="module")
def two_people():
  sphere = trimesh.creation.icosphere(subdivisions=2)
  vertices = np.stack([sphere.vertices, sphere.vertices + np.array([2.5, 0.0, 0.0])])
  return vertices, np.asarray(sphere.faces)


def _geometries(loaded):
  if isinstance(loaded, trimesh.Scene):
    return list(loaded.geometry.values())
  return [loaded]


@pytest.mark.parametrize("suffix", ["obj", "ply", "glb"])
def test_export_loads_back_with_counts(tmp_path, two_people, suffix):
  vertices, faces = two_people
  path = export.export_meshes(tmp_path / "sub" / f"scene.{suffix}", vertices, faces)
  assert os.path.isfile(path)
  loaded = trimesh.load(path, process=False)
  geometries = _geometries(loaded)
  assert sum(g.vertices.shape[0] for g in geometries) == 2 * vertices.shape[1]
  assert sum(g.faces.shape[0] for g in geometries) == 2 * faces.shape[0]
  all_vertices = np.concatenate([g.vertices for g in geometries])
  # The second person sits 2.5 m along x: both are there, in metres, unchanged.
  np.testing.assert_allclose(all_vertices[:, 0].max(), vertices[1, :, 0].max(), atol=1e-5)
  np.testing.assert_allclose(all_vertices[:, 0].min(), vertices[0, :, 0].min(), atol=1e-5)
  colours = np.concatenate([g.visual.vertex_colors[:, :3] for g in geometries])
  distinct = {tuple(c) for c in colours}
  assert distinct == {export.PERSON_COLORS[0][:3], export.PERSON_COLORS[1][:3]}
  # No temporary file is left next to the result.
  assert os.listdir(os.path.dirname(path)) == [f"scene.{suffix}"]


def test_glb_keeps_person_names_and_custom_colours(tmp_path, two_people):
  vertices, faces = two_people
  path = export.export_meshes(tmp_path / "scene.glb", list(vertices), faces,
                              colors=[(1.0, 0.0, 0.0), (0, 0, 255)], names=["a", "b"])
  loaded = trimesh.load(path, process=False)
  assert set(loaded.geometry) == {"a", "b"}
  np.testing.assert_array_equal(loaded.geometry["a"].visual.vertex_colors[0], [255, 0, 0, 255])
  np.testing.assert_array_equal(loaded.geometry["b"].visual.vertex_colors[0], [0, 0, 255, 255])


def test_single_person_and_overwrite(tmp_path, two_people):
  vertices, faces = two_people
  path = tmp_path / "one.ply"
  export.export_meshes(path, vertices[0], faces)
  export.export_meshes(path, vertices[0] * 2.0, faces)  # replaces the file in place
  loaded = trimesh.load(path, process=False)
  assert loaded.vertices.shape == vertices[0].shape
  np.testing.assert_allclose(loaded.vertices, vertices[0] * 2.0, atol=1e-5)


def test_failed_write_leaves_old_file(tmp_path, monkeypatch, two_people):
  vertices, faces = two_people
  path = tmp_path / "kept.obj"
  export.export_meshes(path, vertices, faces)
  old = path.read_text()

  def broken_replace(src, dst):
    raise OSError("disk full")

  monkeypatch.setattr(io_utils.os, "replace", broken_replace)
  with pytest.raises(OSError):
    export.export_meshes(path, vertices * 2.0, faces)
  assert path.read_text() == old
  assert os.listdir(tmp_path) == ["kept.obj"]


def test_bad_inputs_are_named(tmp_path, two_people):
  vertices, faces = two_people
  with pytest.raises(InvalidInputError, match="format 'stl'"):
    export.export_meshes(tmp_path / "x.stl", vertices, faces)
  with pytest.raises(InvalidInputError, match="index outside"):
    export.export_meshes(tmp_path / "x.obj", vertices[:, :10], faces)
  with pytest.raises(InvalidInputError, match="NaN"):
    bad = vertices.copy()
    bad[1, 0, 0] = np.nan
    export.export_meshes(tmp_path / "x.obj", bad, faces)
  with pytest.raises(InvalidInputError, match="colours"):
    export.export_meshes(tmp_path / "x.obj", vertices, faces, colors=[(1, 0, 0)])
