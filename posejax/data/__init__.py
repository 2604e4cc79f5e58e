"""Dataset readers and the synthetic contact benchmark."""

from posejax.data.files import read_bev_npz
from posejax.data.files import read_contact_signatures
from posejax.data.files import read_keypoints_json
from posejax.data.files import read_region_vertex_map
from posejax.data.files import read_split
from posejax.data.moyo import moyo_camera_and_frame
from posejax.data.moyo import read_moyo_camera
from posejax.data.moyo import read_moyo_ground_truth
from posejax.data.moyo import moyo_world_to_camera
from posejax.data.processed import read_chi3d
from posejax.data.processed import read_flickrci3d
from posejax.data.processed import read_hi4d
from posejax.data.processed import read_moyo
from posejax.data.processed import read_processed
from posejax.data.processed import select_body25
from posejax.data.raw import read_image_folder_sample
from posejax.data.sample import DatasetSample
from posejax.data.sample import focal_length_px
from posejax.data import dataset_eval
from posejax.data import sample_constraints
from posejax.data.dataset_eval import params_for_model
from posejax.data.dataset_eval import sample_camera
from posejax.data.dataset_eval import sample_metrics
from posejax.data.sample_constraints import constraints_for_samples
