"""Results people can look at: mesh export, software rendering and PNG overlays."""
