"""The SMPL-X body: model files, the pure forward pass, the default body, regions and keypoints."""

from posejax.body import vocabulary
from posejax.body import keypoints
from posejax.body import regions
from posejax.body.regions import RegionMap
from posejax.body.regions import derive_regions
from posejax.body.regions import load_contact_regions
from posejax.body.regions import sample_points
from posejax.body import rotations
from posejax.body.model import JOINT_NAMES
from posejax.body.model import SKELETON_JOINT_NAMES
from posejax.body.model import SMPLX_PARENTS
from posejax.body.model import BodyModel
from posejax.body.model import BodyOutput
from posejax.body.model import BodyParams
from posejax.body.forward import forward
from posejax.body.forward import rest_root
from posejax.body.reduce import DEFAULT_FROZEN_FIELDS
from posejax.body.reduce import reduce_model
from posejax.body.io import load_model
from posejax.body.io import model_from_arrays
from posejax.body.io import save_model
from posejax.body.default_body import default_body_arrays
from posejax.body.default_body import default_model
