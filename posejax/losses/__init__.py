"""Loss terms of the fit: pure functions of arrays (contact, keypoints, priors, penetration)."""

from posejax.losses import contact
from posejax.losses import keypoints
from posejax.losses import penetration
from posejax.losses import priors
from posejax.losses import proximity
