"""PNG overlays: meshes projected through the camera, blending, side view, keypoints, panels."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from posejax.camera import Camera
from posejax.camera import reference_camera
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax.images import as_rgb
from posejax.viz import overlay
from posejax.viz.export import PERSON_COLORS

WIDTH, HEIGHT = 120, 90
# The renderer's default light, and the shade of a surface facing the camera under it.
_LIGHT = np.array([0.3, 0.4, 1.0]) / np.linalg.norm([0.3, 0.4, 1.0])
_FACING_SHADE = 0.3 + 0.7 * _LIGHT[2]


def _square(center_x, center_y, size, depth):
  """A square facing the camera: (4, 3) camera-frame corners and (2, 3) faces."""
  half = size / 2
  vertices = np.array([[center_x - half, center_y - half, depth],
                       [center_x + half, center_y - half, depth],
                       [center_x + half, center_y + half, depth],
                       [center_x - half, center_y + half, depth]])
  return vertices, np.array([[0, 1, 2], [0, 2, 3]])


def _covered(picture, background):
  return ~(picture == np.asarray(background, np.uint8)).all(axis=2)


def _person_rgb(index):
  return np.asarray(PERSON_COLORS[index][:3], np.float64)


def test_projection_matches_the_pinhole_camera():
  camera = reference_camera(WIDTH, HEIGHT)
  focal = WIDTH / (2 * np.tan(np.radians(30)))
  vertices, faces = _square(0.2, -0.1, 0.4, 3.0)
  picture = overlay.render_people(vertices, faces, camera, alpha=1.0)
  assert picture.shape == (HEIGHT, WIDTH, 3) and picture.dtype == np.uint8
  rows, cols = np.nonzero(_covered(picture, (255, 255, 255)))
  # Pixel centres inside [cx + f (x -+ h) / z] (pinhole, y down).
  left, right = WIDTH / 2 + focal * 0.0 / 3.0, WIDTH / 2 + focal * 0.4 / 3.0
  top, bottom = HEIGHT / 2 + focal * -0.3 / 3.0, HEIGHT / 2 + focal * 0.1 / 3.0
  assert abs(cols.min() + 0.5 - left) <= 1.0 and abs(cols.max() + 0.5 - right) <= 1.0
  assert abs(rows.min() + 0.5 - top) <= 1.0 and abs(rows.max() + 0.5 - bottom) <= 1.0
  # Opaque, facing the camera: the person's colour times the Lambert shade.
  expected = np.round(_person_rgb(0) * _FACING_SHADE)
  np.testing.assert_allclose(picture[rows[0], cols[0]], expected, atol=1.0)


def test_alpha_blends_only_the_covered_pixels():
  rng = np.random.default_rng(0)
  photo = rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
  vertices, faces = _square(0.0, 0.0, 0.5, 2.5)
  opaque = overlay.render_people(vertices, faces, image=photo, alpha=1.0)
  half = overlay.render_people(vertices, faces, image=photo, alpha=0.5)
  hidden = overlay.render_people(vertices, faces, image=photo, alpha=0.0)
  np.testing.assert_array_equal(hidden, photo)
  covered = (opaque != photo).any(axis=2)
  side = WIDTH / (2 * np.tan(np.radians(30))) * 0.5 / 2.5  # pixels
  assert abs(covered.sum() - side**2) < 2 * 2 * side
  np.testing.assert_array_equal(half[~covered], photo[~covered])
  mix = 0.5 * photo.astype(float) + 0.5 * opaque.astype(float)
  np.testing.assert_allclose(half[covered], mix[covered], atol=1.0)


def test_people_get_distinct_colours_and_occlude_each_other():
  near, faces = _square(-0.1, 0.0, 0.4, 2.0)
  far, _ = _square(0.2, 0.0, 0.8, 3.0)
  picture = overlay.render_people(np.stack([near, far]), faces, image_size=(WIDTH, HEIGHT),
                                  alpha=1.0)
  centre = picture[HEIGHT // 2, WIDTH // 2 - 2]  # both squares cover it; the near one wins
  np.testing.assert_allclose(centre, np.round(_person_rgb(0) * _FACING_SHADE), atol=1.0)
  right = picture[HEIGHT // 2, WIDTH // 2 + 20]  # only the far square reaches there
  np.testing.assert_allclose(right, np.round(_person_rgb(1) * _FACING_SHADE), atol=1.0)
  custom = overlay.render_people(np.stack([near, far]), faces, image_size=(WIDTH, HEIGHT),
                                 alpha=1.0, colors=[(0, 255, 0), (1.0, 0.0, 0.0)])
  assert custom[HEIGHT // 2, WIDTH // 2 - 2, 1] > 200
  assert custom[HEIGHT // 2, WIDTH // 2 + 20, 0] > 200
  for wrong in ([(0, 255, 0)], [(0, 255, 0), (1.0, 0.0)]):  # a colour missing, one not RGB(A)
    with pytest.raises(InvalidInputError, match="colour"):
      overlay.render_people(np.stack([near, far]), faces, image_size=(WIDTH, HEIGHT),
                            colors=wrong)


def test_camera_extrinsics_are_applied():
  angle = np.radians(20.0)
  rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0],
                       [-np.sin(angle), 0, np.cos(angle)]])
  translation = np.array([0.1, -0.2, 0.5])
  camera = Camera.from_intrinsics(100.0, (60.0, 45.0), (WIDTH, HEIGHT), rotation, translation)
  plain = Camera.from_intrinsics(100.0, (60.0, 45.0), (WIDTH, HEIGHT))
  world, faces = _square(0.0, 0.0, 0.5, 2.0)
  in_camera = world @ rotation.T + translation
  np.testing.assert_allclose(overlay.camera_frame(camera, world), in_camera, atol=1e-6)
  np.testing.assert_array_equal(overlay.render_people(world, faces, camera),
                                overlay.render_people(in_camera, faces, plain))


def test_turn_about_vertical():
  center = np.array([0.5, 0.2, 4.0])
  points = center + np.array([[1.0, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 0.0, 1.0]])
  turned = overlay.turn_about_vertical(points, 90.0, center)
  # The image's right (+x) goes away from the camera, the far side (+z) comes to the image's
  # left; the vertical is untouched.
  np.testing.assert_allclose(turned, center + np.array([[0, 0, 1.0], [0, 0.3, 0], [-1.0, 0, 0]]),
                             atol=1e-12)
  np.testing.assert_allclose(overlay.turn_about_vertical(points, 360.0, center), points,
                             atol=1e-12)


def test_side_view_shows_depth():
  # Two people side by side in the image but at different depths: the front view hides the
  # depth gap, the side view shows them apart, the nearer one on the right.
  near, faces = _square(-0.3, 0.0, 0.3, 3.0)
  far, _ = _square(0.3, 0.0, 0.3, 4.0)
  boxes = [np.concatenate([s, s + [0.0, 0.0, 0.3]]) for s in (near, far)]
  box_faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                        [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]])
  del faces
  side = overlay.render_side_view(np.stack(boxes), box_faces, image_size=(WIDTH, HEIGHT))
  assert side.shape == (HEIGHT, WIDTH, 3)
  columns = {}
  for person in (0, 1):
    rgb = _person_rgb(person)
    ratio = side.astype(float) / np.maximum(rgb, 1.0)
    mine = (np.abs(ratio - ratio[..., :1]) < 0.08).all(axis=2) & _covered(side, (255,) * 3)
    assert mine.sum() > 10, person
    columns[person] = np.nonzero(mine)[1].mean()
  assert columns[0] > columns[1] + 10
  # A side view turned by 0 degrees is the opaque front view.
  front = overlay.render_side_view(np.stack(boxes), box_faces, image_size=(WIDTH, HEIGHT),
                                   degrees=0.0)
  np.testing.assert_array_equal(
      front, overlay.render_people(np.stack(boxes), box_faces, image_size=(WIDTH, HEIGHT),
                                   alpha=1.0))


def test_draw_keypoints():
  canvas = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
  keypoints = np.zeros((2, 25, 3))
  keypoints[0, 1] = (30.0, 40.0, 0.9)  # neck
  keypoints[0, 8] = (30.0, 70.0, 0.9)  # mid hip: the limb between them is drawn
  keypoints[1, 0] = (90.0, 20.0, 0.05)  # below the confidence threshold
  keypoints[1, 2] = (np.nan, np.nan, 1.0)
  drawn = overlay.draw_keypoints(canvas, keypoints, radius=2.0)
  assert (canvas == 255).all()  # not changed in place
  expected = np.round(_person_rgb(0) * 0.75)
  np.testing.assert_allclose(drawn[40, 30], expected, atol=1.0)
  np.testing.assert_allclose(drawn[55, 30], expected, atol=1.0)  # on the neck-hip line
  assert (drawn[15:26, 85:96] == 255).all()
  changed = (drawn != 255).any(axis=2)
  assert changed[:, :20].sum() == 0 and changed[:, 45:].sum() == 0
  with pytest.raises(InvalidInputError, match="BODY_25"):
    overlay.draw_keypoints(canvas, np.zeros((2, 17, 3)))


def test_compose_panels_and_png(tmp_path):
  red = np.zeros((30, 40, 3), np.uint8)
  red[..., 0] = 255
  blue = np.zeros((20, 50, 3), np.uint8)
  blue[..., 2] = 255
  plain = overlay.compose_panels([red, blue])
  assert plain.shape == (30, 40 + 4 + 50, 3)
  np.testing.assert_array_equal(plain[:30, :40], red)
  np.testing.assert_array_equal(plain[:20, 44:], blue)
  assert (plain[20:, 44:] == 255).all() and (plain[:, 40:44] == 255).all()
  titled = overlay.compose_panels([red, blue], titles=["a", "b"])
  strip = titled.shape[0] - 30
  assert strip >= 14 and titled.shape[1] == plain.shape[1]
  np.testing.assert_array_equal(titled[strip:, :40], red)
  path = overlay.write_png(tmp_path / "sub" / "panels.png", titled)
  with Image.open(path) as image:
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), titled)
  assert os.listdir(tmp_path / "sub") == ["panels.png"]  # no temporary file left behind
  with pytest.raises(InvalidInputError, match="titles"):
    overlay.compose_panels([red], titles=["a", "b"])


def test_save_overlay_figure(tmp_path):
  photo = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
  photo_path = tmp_path / "photo.png"
  Image.fromarray(photo).save(photo_path)
  first, faces = _square(-0.2, 0.0, 0.3, 3.0)
  second, _ = _square(0.2, 0.0, 0.3, 3.2)
  fitted = np.stack([first, second])
  keypoints = np.zeros((2, 25, 3))
  path = overlay.save_overlay(tmp_path / "out" / "scene.png", faces, fitted,
                              initial=fitted + [0.0, 0.3, 0.0], image=str(photo_path),
                              keypoints=keypoints)
  with Image.open(path) as image:
    figure = np.asarray(image.convert("RGB"))
  strip = figure.shape[0] - HEIGHT
  assert figure.shape[1] == 3 * WIDTH + 2 * 4 and 14 <= strip <= 30
  panels = [figure[strip:, i * (WIDTH + 4):i * (WIDTH + 4) + WIDTH] for i in range(3)]
  # Panel 2 is the fit over the photo: exactly the overlay of the fit.
  np.testing.assert_array_equal(panels[1], overlay.render_people(fitted, faces, image=photo))
  # Panel 1 shows the initial estimate lower in the image (y down).
  rows = [np.nonzero((p != 40).any(axis=2))[0].mean() for p in panels[:2]]
  assert rows[0] > rows[1] + 5
  # Panel 3 is the side view on white.
  assert (panels[2][0] == 255).all() and (panels[2] != 255).any()
  no_side = overlay.overlay_figure(faces, fitted, image_size=(WIDTH, HEIGHT), side_view=False,
                                   titles=["only"])
  assert no_side.shape[1] == WIDTH


def test_errors_name_the_problem(tmp_path):
  vertices, faces = _square(0.0, 0.0, 0.3, 3.0)
  with pytest.raises(InvalidInputError, match="image is 60x40 pixels but the camera"):
    overlay.render_people(vertices, faces, reference_camera(WIDTH, HEIGHT),
                          image=np.zeros((40, 60, 3), np.uint8))
  batched = reference_camera(WIDTH, HEIGHT)
  batched = batched.replace(focal_length=np.stack([batched.focal_length] * 2))
  with pytest.raises(InvalidInputError, match="batched"):
    overlay.render_people(vertices, faces, batched)
  with pytest.raises(InvalidInputError, match="image_size"):
    overlay.render_people(vertices, faces)
  with pytest.raises(InvalidInputError, match="NaN"):
    overlay.render_people(np.full((4, 3), np.nan), faces, image_size=(WIDTH, HEIGHT))
  with pytest.raises(InvalidInputError, match="faces"):
    overlay.render_people(vertices, faces + 10, image_size=(WIDTH, HEIGHT))
  with pytest.raises(InvalidInputError, match="alpha"):
    overlay.render_people(vertices, faces, image_size=(WIDTH, HEIGHT), alpha=2.0)
  with pytest.raises(FileFormatError, match="missing.png: image file not found"):
    overlay.render_people(vertices, faces, image=str(tmp_path / "missing.png"))
  broken = tmp_path / "broken.png"
  broken.write_bytes(b"not an image")
  with pytest.raises(FileFormatError, match="cannot read the image"):
    as_rgb(broken)


def test_integer_images_are_clipped_not_wrapped():
  # astype(uint8) alone would turn 300 into 44 and -5 into 251.
  image = np.array([[[300, -5, 128]]], dtype=np.int32)
  with Image.open(io.BytesIO(overlay.encode_png(image))) as decoded:
    np.testing.assert_array_equal(np.asarray(decoded.convert("RGB")), [[[255, 0, 128]]])
