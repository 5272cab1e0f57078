"""Student and teacher builders for image classifiers: one CNN family, sized by its widths."""

from __future__ import annotations

from torch import nn


class ConvNet(nn.Module):
    """conv-bn-relu blocks, a 2x2 pool after the second block, global pooling and a classifier.

    Sized by `widths`, so a student is the teacher's family at smaller widths (its parameter
    count falls roughly with the square of the width).
    """

    def __init__(self, widths: tuple[int, ...], num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            if i == 1:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
