"""posejax: ProsePose in JAX.

Fits SMPL-X bodies of people in contact to 2D keypoints, with contact constraints that a large
multimodal model read off the image ("Pose Priors from Language Models", CVPR 2025).
The public API is re-exported here, one name per line; never import a private module.
"""

from posejax import _xla_flags

_xla_flags.disable_experimental_cpu_fusions()

from posejax import body  # noqa: E402 (after the XLA flags are set)
from posejax import camera
from posejax import data
from posejax import lmm
from posejax import losses
from posejax import metrics
from posejax import photos
from posejax import viz
from posejax.config import FitConfig
from posejax.config import LossWeights
from posejax.config import StageConfig
from posejax.constraints import Constraints
from posejax.constraints import needs_fallback
from posejax.errors import ConstraintError
from posejax.errors import FileFormatError
from posejax.errors import InvalidInputError
from posejax.errors import LMMError
from posejax.errors import PoseJaxError
from posejax.fitting import Fitter
from posejax.fitting import enable_compilation_cache
from posejax.fitting import fit
from posejax.result import FitResult

__version__ = "0.1.0"
