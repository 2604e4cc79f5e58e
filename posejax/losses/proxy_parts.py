"""The interpenetration proxy cut into closed limb parts, so that a winding number tests few parts.

The mesh is cut along loops of its edges and every cut loop closed by the same fan in both
parts that share it, oppositely oriented. Every part is then closed, so its winding number is 0
outside its bounding box, and the caps cancel in the sum over parts, which is the whole mesh's.
A point therefore tests only the parts whose box holds it, exactly.

Parts follow the skeleton: a vertex belongs to the limb of its dominant joint (the subtree of a
shoulder, elbow, hip, knee or the neck; the torso otherwise), a triangle to the limb most of its
vertices belong to. Where a cut would not be simple loops between two parts, the triangles around
that vertex join the lowest-numbered part there (the torso), so that the two caps of every loop
match.
"""

from __future__ import annotations

import collections

import numpy as np

CUT_JOINTS = ("neck", "left_shoulder", "left_elbow", "right_shoulder", "right_elbow", "left_hip",
              "left_knee", "right_hip", "right_knee")
"""SMPL-X joints whose subtrees are parts of their own; the rest of the skeleton is the torso."""


def limb_labels(joint_names, parents, lbs_weights) -> np.ndarray:
  """(V,) int: the part of each model vertex, from its dominant skinning joint.

  Part 0 is the torso; part k >= 1 is the subtree of ``CUT_JOINTS[k - 1]`` below the next cut
  joint (the upper arm stops at the elbow).

  Args:
    joint_names: the J skeleton joint names (SMPL-X order).
    parents: (J,) parent of each joint, -1 for the root.
    lbs_weights: (V, J) skinning weights.
  """
  names = list(joint_names)
  cut = {names.index(name): k + 1 for k, name in enumerate(CUT_JOINTS) if name in names}
  part_of_joint = np.zeros(len(names), np.int64)
  for joint in range(len(names)):  # parents precede children
    parent = int(parents[joint])
    part_of_joint[joint] = cut.get(joint, part_of_joint[parent] if parent >= 0 else 0)
  return part_of_joint[np.argmax(np.asarray(lbs_weights), axis=1)]


def closed_parts(triangles: np.ndarray, vertex_labels: np.ndarray) -> tuple[np.ndarray, ...]:
  """Cuts a closed, consistently oriented triangle mesh into closed parts (see the module).

  Args:
    triangles: (T, 3) vertex ids; every directed edge's reverse occurs exactly once.
    vertex_labels: (V,) int part label of every vertex the ids refer to.

  Returns:
    One (T_k, 3) int array per non-empty part: its triangles, then the caps of its cut loops.
    A single part (the mesh itself) when the labels do not split it.
  """
  triangles = np.asarray(triangles, np.int64)
  labels = _triangle_labels(triangles, np.asarray(vertex_labels))
  owner = {}  # directed edge -> triangle
  for t, (a, b, c) in enumerate(triangles.tolist()):
    for edge in ((a, b), (b, c), (c, a)):
      owner[edge] = t
  incident = collections.defaultdict(list)
  for t, corners in enumerate(triangles.tolist()):
    for v in corners:
      incident[v].append(t)
  # Repair: around a vertex where the cut is not one simple loop through it, the lowest-numbered
  # part there (the torso for a body) takes every triangle. Labels only decrease, so this ends.
  while True:
    problems = _problem_vertices(triangles, labels, owner, incident)
    if not problems:
      break
    for v in problems:
      labels[incident[v]] = labels[incident[v]].min()
  parts = []
  for part in np.unique(labels):
    mine = triangles[labels == part]
    caps = [_fan(loop) for loop in _cut_loops(mine, labels, part, owner)]
    parts.append(np.concatenate([mine] + caps) if caps else mine)
  if not all(is_closed(part) for part in parts):  # not expected; the whole mesh is always right
    return (triangles,)
  return tuple(parts)


def is_closed(triangles: np.ndarray) -> bool:
  """Whether the triangles form a closed surface: every directed edge occurs as often as its
  reverse (a cap's fan may run along an edge the part already has, so edges may repeat)."""
  edges = np.asarray(triangles, np.int64)[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
  forward = collections.Counter(map(tuple, edges.tolist()))
  return all(forward[(b, a)] == count for (a, b), count in forward.items())


def _triangle_labels(triangles: np.ndarray, vertex_labels: np.ndarray) -> np.ndarray:
  """The label most of a triangle's vertices have (its first vertex's when all differ)."""
  corner = vertex_labels[triangles]
  labels = corner[:, 0].copy()
  two_agree = corner[:, 1] == corner[:, 2]
  labels[two_agree] = corner[two_agree, 1]
  return labels


def _problem_vertices(triangles, labels, owner, incident) -> list[int]:
  """Vertices where three or more parts meet, or where the cut between two parts passes twice."""
  problems = []
  for v, around in incident.items():
    parts = set(labels[around].tolist())
    if len(parts) == 1:
      continue
    if len(parts) > 2:
      problems.append(v)
      continue
    outgoing = 0  # cut edges leaving v, counted in the triangles that hold them
    for t in around:
      a, b, c = triangles[t].tolist()
      for x, y in ((a, b), (b, c), (c, a)):
        if x == v and labels[owner[(y, x)]] != labels[t]:
          outgoing += 1
    if outgoing != 2:  # one loop through v: one cut edge out of v on each side
      problems.append(v)
  return problems


def _cut_loops(mine: np.ndarray, labels, part, owner) -> list[list[int]]:
  """The part's cut edges (those whose other triangle is in another part) as closed loops, each
  a vertex list in the part's edge direction."""
  following = {}
  for a, b, c in mine.tolist():
    for x, y in ((a, b), (b, c), (c, a)):
      if labels[owner[(y, x)]] != part:
        following[x] = y
  loops = []
  while following:
    start = min(following)
    loop, v = [start], following.pop(start)
    while v != start:
      loop.append(v)
      v = following.pop(v)
    loops.append(loop)
  return loops


def _fan(loop: list[int]) -> np.ndarray:
  """Triangles closing ``loop`` (a cut loop in this part's edge direction): a fan from its lowest
  vertex, oriented against the loop. The part on the other side traverses the same loop the other
  way and gets exactly these triangles reversed."""
  first = loop.index(min(loop))
  ring = loop[first:] + loop[:first]
  return np.array([(ring[0], ring[i + 1], ring[i]) for i in range(1, len(ring) - 1)],
                  np.int64).reshape(-1, 3)


BLOCK_TRIANGLES = 128
"""Triangles per block: the parts have 120-570 triangles on SMPL-X-sized proxies, and padding
every part to the largest would make small limbs cost as much as the torso."""


def blocks(parts: tuple[np.ndarray, ...], size: int = BLOCK_TRIANGLES
           ) -> tuple[np.ndarray, np.ndarray]:
  """The parts' triangles in blocks of ``size``: (B, size, 3) ids and (B,) the part of each block.

  A part's last block is padded with a degenerate triangle (the part's first vertex three times),
  whose solid angle is 0 from every point and which lies in the part's box.
  """
  chunks, owner = [], []
  for k, part in enumerate(parts):
    for start in range(0, len(part), size):
      block = np.full((size, 3), part[0, 0], np.int64)
      piece = part[start:start + size]
      block[:len(piece)] = piece
      chunks.append(block)
      owner.append(k)
  return np.stack(chunks), np.asarray(owner, np.int64)
