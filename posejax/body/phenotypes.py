"""Anny's phenotypes and the exported body's betas, either turned into the other.

Anny shapes a body by six phenotype parameters in [0, 1] (``PHENOTYPE_LABELS``). Its rest mesh
is a multilinear blend: each parameter is interpolated piecewise-linearly between anchors
(age: newborn, baby, child, young, old at -1/3, 0, 1/3, 2/3, 1; muscle and weight: three
anchors; gender, height, proportions: two) and the blend weights are products across
parameters. ``phenotype_features`` is that tensor product of hat functions (288 features), one
per combination of anchors (``anchor_grid``), and is one-hot there: a map that takes each grid
point's features to that shape's betas interpolates exactly as Anny does, so the export reads
the 288 grid shapes and stores their betas (``PhenotypeMap``). The way back, betas to phenotypes,
solves the map's least-squares inverse inside [0, 1] by projected Gauss-Newton.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from posejax.errors import InvalidInputError

PHENOTYPE_LABELS: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")
"""Anny's default phenotype parameters, each in [0, 1] (age 0: newborn, 1: old)."""

PHENOTYPE_ANCHORS: tuple[tuple[float, ...], ...] = (
    (0.0, 1.0),
    (0.0, 1 / 3, 2 / 3, 1.0),  # Anny's -1/3 anchor lies below the range and is never active
    (0.0, 0.5, 1.0),
    (0.0, 0.5, 1.0),
    (0.0, 1.0),
    (0.0, 1.0),
)
"""Interpolation anchors of each parameter inside [0, 1], as Anny blends its targets."""


def _hats(values: np.ndarray, anchors: tuple[float, ...]) -> np.ndarray:
  """(N,) values -> (N, len(anchors)) piecewise-linear interpolation weights."""
  grid = np.asarray(anchors)
  values = np.clip(values, grid[0], grid[-1])
  upper = np.clip(np.searchsorted(grid, values, side="left"), 1, len(grid) - 1)
  t = (values - grid[upper - 1]) / (grid[upper] - grid[upper - 1])
  out = np.zeros((len(values), len(grid)))
  rows = np.arange(len(values))
  out[rows, upper - 1] = 1.0 - t
  out[rows, upper] += t
  return out


def phenotype_features(phenotypes: np.ndarray) -> np.ndarray:
  """(N, 6) phenotypes -> (N, 288) products of their interpolation weights."""
  phenotypes = np.asarray(phenotypes, np.float64)
  if phenotypes.ndim != 2 or phenotypes.shape[1] != len(PHENOTYPE_LABELS):
    raise InvalidInputError(f"phenotypes must have shape (N, {len(PHENOTYPE_LABELS)}) "
                            f"({', '.join(PHENOTYPE_LABELS)}), got {phenotypes.shape}.")
  if not np.isfinite(phenotypes).all():
    raise InvalidInputError("phenotypes must be finite.")
  out = np.ones((len(phenotypes), 1))
  for column, anchors in enumerate(PHENOTYPE_ANCHORS):
    hats = _hats(phenotypes[:, column], anchors)
    out = (out[:, :, None] * hats[:, None, :]).reshape(len(phenotypes), -1)
  return out


def anchor_grid() -> np.ndarray:
  """(288, 6) every combination of anchors, in ``phenotype_features``' column order."""
  mesh = np.meshgrid(*[np.asarray(a) for a in PHENOTYPE_ANCHORS], indexing="ij")
  return np.stack([m.ravel() for m in mesh], axis=1)


@dataclasses.dataclass(frozen=True)
class PhenotypeMap:
  """Betas of the exported shape space as a function of Anny's phenotypes.

  Attributes:
    coefficients: (288, B) ``betas = phenotype_features(p) @ coefficients``.
  """

  coefficients: np.ndarray

  @classmethod
  def from_grid(cls, grid_betas: np.ndarray) -> PhenotypeMap:
    """The map through (288, B) betas of the ``anchor_grid()`` shapes."""
    grid_betas = np.asarray(grid_betas, np.float64)
    if grid_betas.ndim != 2 or grid_betas.shape[0] != len(anchor_grid()):
      raise InvalidInputError(f"grid_betas must have shape ({len(anchor_grid())}, B), got "
                              f"{grid_betas.shape}.")
    return cls(grid_betas)

  def betas(self, phenotypes: np.ndarray) -> np.ndarray:
    """(N, 6) phenotypes in [0, 1] -> (N, B) betas."""
    return phenotype_features(phenotypes) @ self.coefficients

  def phenotypes(self, betas: np.ndarray, *, steps: int = 60, starts: int = 8) -> np.ndarray:
    """(N, B) betas -> (N, 6) the phenotypes in [0, 1] whose betas are nearest.

    Levenberg-Marquardt on ``p = (1 + sin u) / 2`` (unconstrained in ``u``, inside the box in
    ``p``) with a central-difference Jacobian, from the ``starts`` nearest points of a coarse
    grid; the best end wins (the map has kinks where Anny's interpolation changes anchors).
    """
    betas = np.atleast_2d(np.asarray(betas, np.float64))
    if betas.ndim != 2 or betas.shape[1] != self.coefficients.shape[1]:
      raise InvalidInputError(f"betas must have shape (N, {self.coefficients.shape[1]}), got "
                              f"{betas.shape}.")
    dims = len(PHENOTYPE_LABELS)
    grid = np.stack(np.meshgrid(*([np.linspace(0.05, 0.95, 5)] * dims), indexing="ij"),
                    axis=-1).reshape(-1, dims)
    distance = ((betas[:, None, :] - self.betas(grid)[None]) ** 2).sum(-1)
    nearest = np.argsort(distance, axis=1)[:, :starts]
    count = len(betas)
    betas = np.repeat(betas, nearest.shape[1], axis=0)
    box = lambda u: 0.5 + 0.5 * np.sin(u)  # noqa: E731
    u = np.arcsin(2.0 * grid[nearest.reshape(-1)] - 1.0)
    cost = ((self.betas(box(u)) - betas) ** 2).sum(-1)
    damping = np.full(len(u), 1e-3)
    eps = 1e-5
    for _ in range(steps):
      residual = self.betas(box(u)) - betas
      columns = []
      for k in range(dims):
        shift = np.zeros(dims)
        shift[k] = eps
        columns.append((self.betas(box(u + shift)) - self.betas(box(u - shift))) / (2 * eps))
      jac = np.stack(columns, axis=2)  # (N, B, 6)
      normal = np.einsum("nbi,nbj->nij", jac, jac)
      scale = np.einsum("nii->ni", normal) + 1e-12
      lhs = normal + damping[:, None, None] * np.einsum("ni,ij->nij", scale, np.eye(dims))
      step = np.linalg.solve(lhs, np.einsum("nbi,nb->ni", jac, residual)[..., None])[..., 0]
      trial = u - step
      trial_cost = ((self.betas(box(trial)) - betas) ** 2).sum(-1)
      better = trial_cost < cost
      u = np.where(better[:, None], trial, u)
      cost = np.where(better, trial_cost, cost)
      damping = np.where(better, damping * 0.3, damping * 10.0)
    best = np.argmin(cost.reshape(count, -1), axis=1)
    return box(u).reshape(count, -1, dims)[np.arange(count), best]
