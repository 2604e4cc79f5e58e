"""The SMPL-X body: model files, the pure forward pass, the default body, regions and keypoints."""

from posejax.body import vocabulary
