"""The SMPL-X body: model files, the pure forward pass, the default body, regions and keypoints."""

from posejax.body import vocabulary
from posejax.body import keypoints
from posejax.body import regions
from posejax.body.regions import RegionMap
from posejax.body.regions import derive_regions
from posejax.body.regions import load_contact_regions
from posejax.body.regions import sample_points
