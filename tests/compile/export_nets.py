"""Small PyTorch modules the export tests load by `module: "export_nets:Name"` (not a test file).

The tests copy this file next to their edgec.yaml, the way a user keeps a model file next to
the config; edgec imports it from there.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class CNN(nn.Module):
    def __init__(self, channels: int = 3, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        )  # fmt: skip
        self.head = nn.Linear(16, classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image).flatten(1))


class MLP(nn.Module):
    def __init__(self, features: int = 16, hidden: int = 32, classes: int = 5) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.GELU(), nn.Linear(hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class TinyTransformer(nn.Module):
    """Token ids [batch, seq] -> per-sequence logits; positions up to 64."""

    def __init__(self, vocab: int = 50, dim: int = 32, heads: int = 4, layers: int = 2, classes: int = 3) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(64, dim) * 0.02)
        self.blocks = nn.ModuleList(nn.ModuleDict({"norm1": nn.LayerNorm(dim), "attn": Attention(dim, heads),
                                                   "norm2": nn.LayerNorm(dim), "mlp": MLP(dim, 2 * dim, dim)})
                                    for _ in range(layers))  # fmt: skip
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = x + block["attn"](block["norm1"](x))
            x = x + block["mlp"](block["norm2"](x))
        return self.head(x.mean(dim=1))


class TwoHeads(nn.Module):
    """Two inputs (an image and a metadata vector), two outputs (logits and an embedding)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.side = nn.Linear(6, 8)
        self.embed = nn.Linear(4 * 8 * 8 + 8, 12)
        self.classify = nn.Linear(12, 4)

    def forward(self, image: torch.Tensor, meta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([F.relu(self.conv(image)).flatten(1), torch.tanh(self.side(meta))], dim=1)
        embedding = self.embed(x)
        return self.classify(F.relu(embedding)), F.normalize(embedding, dim=1)


@torch.library.custom_op("edgectest::twice", mutates_args=())
def twice(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@twice.register_fake
def _twice_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class Doubler(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return twice(x)


class WithCustomOp(nn.Module):
    """A custom op (no ONNX translation) two modules deep: the error must name it and 'block.0'."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.block = nn.Sequential(Doubler())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.lin(x))
