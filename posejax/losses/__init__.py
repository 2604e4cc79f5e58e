"""Loss terms of the fit: pure functions of arrays (contact, keypoints, priors, penetration)."""

from posejax.losses import contact
from posejax.losses.f1 import contact_f1
