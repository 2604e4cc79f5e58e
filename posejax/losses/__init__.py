"""Loss terms of the fit: pure functions of arrays (contact, keypoints, priors, penetration)."""
