"""Evaluation metrics: joint errors (PA-MPJPE, MPJPE) and contact (PCC), as the published tables.

Every function takes positions in metres. Joint errors come back in millimetres; PCC values are
fractions in [0, 1].
"""

from posejax.metrics.joints import LSP14_FROM_SMPLX_JOINTS
from posejax.metrics.joints import LSP14_MID_HIP
from posejax.metrics.joints import SMPLX_HEAD_JOINT
from posejax.metrics.joints import regress_joints
from posejax.metrics.joints import load_joint_regressor
from posejax.metrics.joints import lsp14_regressor
from posejax.metrics.joints import lsp14_regressor_for
from posejax.metrics.joints import skinning_band_regressor
from posejax.metrics.joints import similarity_procrustes
from posejax.metrics.joints import procrustes_align
from posejax.metrics.joints import mpjpe
from posejax.metrics.joints import pa_mpjpe
from posejax.metrics.joints import joint_pa_mpjpe
from posejax.metrics.joints import two_person_joint_errors
from posejax.metrics.contact import PCC_THRESHOLDS_M
from posejax.metrics.contact import SELF_CONTACT_GT_THRESHOLD_M
from posejax.metrics.contact import GEODESIC_FAR_M
from posejax.metrics.contact import PCC_VERTICES_PER_REGION
from posejax.metrics.contact import fixed_region_vertices
from posejax.metrics.contact import region_pair_distances
from posejax.metrics.contact import pcc_curve
from posejax.metrics.contact import two_person_pcc
from posejax.metrics.contact import summarize_pcc
from posejax.metrics.contact import evaluate_two_person
from posejax.metrics.contact import SelfContactIndex
from posejax.metrics.contact import mesh_graph
from posejax.metrics.contact import build_self_contact_index
from posejax.metrics.contact import self_contact_distances
from posejax.metrics.contact import self_contact_pcc
from posejax.metrics.contact import evaluate_one_person
