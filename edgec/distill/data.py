"""The demo's data: scikit-learn's bundled handwritten digits (no download), split once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32 [N, 1, 8, 8], scaled to [0, 1]
    y: np.ndarray  # int64 [N]


def digits_splits(seed: int = 0, test_fraction: float = 0.3, size: int = 16) -> tuple[Split, Split]:
    """Stratified train/test split of the 1,797 digits images, resized to `size` x `size`.

    The 8x8 originals are upsampled (bilinear) as a camera pipeline resizes to the model's input;
    at 16x16 the convolutions do enough work that latency measures the model, not the runtime.
    """
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.from_numpy((digits.images / 16.0).astype(np.float32)[:, None, :, :])
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = x.numpy()
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Split(x_tr, y_tr), Split(x_te, y_te)
