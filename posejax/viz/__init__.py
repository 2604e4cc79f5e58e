"""Results people can look at: mesh export, software rendering and PNG overlays."""

from posejax.viz import export
from posejax.viz.export import export_meshes
from posejax.viz import render
from posejax.viz.render import render_mesh
from posejax.viz import overlay
from posejax.viz.overlay import overlay_figure
from posejax.viz.overlay import render_people
from posejax.viz.overlay import render_side_view
from posejax.viz.overlay import save_overlay
