"""Dihedral views: every image under the four right-angle rotations, and their mirror images.

For images with no "up" (solar cells, tissue, aerial views) the label does not change when the
image is turned by a right angle or mirrored, and none of these eight views adds the black corners
a ±15° rotation does. A converged head fitted on all eight views of every training image, and
scored by its probabilities averaged over the eight views of each image, measured 0.797 test
accuracy on ELPV's 4 grades against 0.768 for the clean head on the same split, and 0.843 against
0.840 on ELPV binary (`bench/bench_frozen_views.py`, frozen EfficientNet-Lite0); the four rotations
alone 0.793 on 4 grades, for half the passes. Each view costs one more frozen pass, at search and at
prediction time.

View `v` of a batch is `dihedral_view(x, v)`: views 0-3 are the rotations, by 0, 180, 90 and 270
degrees, and 4-7 their mirror images. So the first 2 views are the image and its half turn (lines
keep their direction: ELPV's busbars stay horizontal), the first 4 the rotations, and all 8 the
dihedral group. On ELPV binary, over 8 splits, an RBF head on the first 2 views scored 0.872
against 0.865 on the image alone for one more frozen pass (the 4 rotations: 0.873 for three;
`bench/bench_elpv_view_sets.py`, docs/benchmarks.md).
"""

from __future__ import annotations

import torch
from torch import nn

# The dihedral group of the square: 4 rotations × (as is, mirrored).
DIHEDRAL_VIEWS = 8
# Quarter turns of views 0-3 (and of their mirror images, 4-7): the half turn comes second.
_QUARTER_TURNS = (0, 2, 1, 3)
# What the first n views of an image are (`TrialSpec.dihedral_views`), as reports name them.
VIEW_SETS = {
    1: "the image as it is",
    2: "the image and its half turn",
    4: "the image's 4 right-angle rotations",
    8: "the image's 4 right-angle rotations and their mirror images",
}


def dihedral_view(x: torch.Tensor, view: int) -> torch.Tensor:
    """View `view` (0-7) of a batch of images (n, c, h, w): turned by `_QUARTER_TURNS[view % 4]` quarter
    turns, then mirrored left-right when `view` >= 4. Square images keep their shape (the runners feed
    square crops)."""
    turns, mirrored = view_geometry(view)
    turned = torch.rot90(x, turns, (2, 3)) if turns else x
    return torch.flip(turned, (3,)) if mirrored else turned


def view_geometry(view: int) -> tuple[int, bool]:
    """(quarter turns, mirrored) of view `view`: what a cache key names, so that a key made before
    the views were numbered as they are now cannot serve another view's features."""
    if not 0 <= view < DIHEDRAL_VIEWS:
        raise ValueError(f"view must be in [0, {DIHEDRAL_VIEWS}), got {view}")
    return _QUARTER_TURNS[view % 4], view >= 4


def view_state(state: tuple[torch.Tensor, ...], view: int) -> tuple[torch.Tensor, ...]:
    """A model input state (images first) with its images under view `view`."""
    return (dihedral_view(state[0], view), *state[1:])


class ViewAveraged(nn.Module):
    """`model` scored on the first `views` views of its input: the log of its softmax probabilities averaged over them.

    The output is a row of logits whose softmax is the averaged probabilities, so every consumer
    of logits (the predictors, the ONNX export, an ensemble) reads it as it reads a plain model's.
    With one view it is `model` itself.
    """

    def __init__(self, model: nn.Module, views: int) -> None:
        super().__init__()
        if not 1 <= views <= DIHEDRAL_VIEWS:
            raise ValueError(f"views must be in [1, {DIHEDRAL_VIEWS}], got {views}")
        self.model, self.views = model, views

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.views == 1:
            return self.model(x)
        probs = torch.stack([self.model(dihedral_view(x, v)).float().softmax(-1) for v in range(self.views)])
        return probs.mean(0).clamp_min(torch.finfo(torch.float32).tiny).log()
