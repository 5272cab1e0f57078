"""User-side modules the distillation tests name as `module:attr` (as a user's own code would be)."""

from __future__ import annotations

from torch import nn

from edgec.distill.models import ConvNet


class CountingConvNet(ConvNet):
    """A ConvNet that counts its forward calls (class-wide), to check the soft-label cache."""

    calls = 0

    def forward(self, x):
        type(self).calls += 1
        return super().forward(x)


def small_convnet(widths: list[int], num_classes: int = 10) -> nn.Module:
    """A factory (not a class), to show both kinds of `module:attr` work."""
    return ConvNet(tuple(widths), num_classes=num_classes)


NOT_A_FACTORY = 42
