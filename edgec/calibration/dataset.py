"""Calibration and evaluation data: loaded without pickle, checked against the graph, sampled
deterministically and fingerprinted so the manifest can say exactly which samples were used."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgec.compile.graph import TensorSpec
from edgec.errors import EdgecError

LABELS_KEY = "labels"


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of an .npz (or a single .npy), with pickled object arrays refused."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError as exc:
        raise EdgecError(f"{path}: data file not found") from exc
    except ValueError as exc:
        if "pickle" in str(exc):
            raise EdgecError(f"{path}: holds pickled objects, which edgec never loads; save plain arrays") from exc
        raise EdgecError(f"{path}: not a readable .npz/.npy file ({exc})") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise EdgecError(f"{path}: not a readable .npz/.npy file ({exc})") from exc


def load_folder(folder: str | Path) -> dict[str, np.ndarray]:
    """A folder of `<input name>.npy` files (+ optional `labels.npy`), or of `.npz` chunks that
    are concatenated in file-name order (each chunk keyed by input name)."""
    folder = Path(folder)
    npys = sorted(folder.glob("*.npy"))
    npzs = sorted(folder.glob("*.npz"))
    if npys and npzs:
        raise EdgecError(f"{folder}: holds both .npy and .npz files; use one layout")
    if npys:
        return {p.stem: load_npz(p)[p.stem] for p in npys}
    if not npzs:
        raise EdgecError(f"{folder}: no .npz or .npy files (input 'any', sample 0 does not exist)")
    chunks = [load_npz(p) for p in npzs]
    names = set(chunks[0])
    for path, chunk in zip(npzs, chunks, strict=True):
        if set(chunk) != names:
            raise EdgecError(f"{path}: arrays {sorted(chunk)} differ from {npzs[0].name}'s {sorted(names)}")
    merged = {}
    for name in sorted(names):
        tails = {c[name].shape[1:] for c in chunks}
        if len(tails) > 1:
            raise EdgecError(f"{folder}: input '{name}' has different per-sample shapes across files: {sorted(tails)}")
        merged[name] = np.concatenate([c[name] for c in chunks], axis=0)
    return merged


@dataclass
class CalibrationSet:
    """Samples keyed by graph input name (first axis = sample), plus optional labels."""

    arrays: dict[str, np.ndarray]
    labels: np.ndarray | None = None
    source: str = "arrays"
    sample_ids: list[str] | None = None  # e.g. image file names, so a message can point at one

    def __post_init__(self) -> None:
        counts = {name: len(a) for name, a in self.arrays.items()}
        if len(set(counts.values())) > 1:
            raise EdgecError(f"{self.source}: inputs have different sample counts {counts}")

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    @classmethod
    def from_file(cls, path: str | Path) -> CalibrationSet:
        """An .npz/.npy file, or a folder of them (see `load_folder`)."""
        if Path(path).is_dir():
            arrays = load_folder(path)
        else:
            arrays = load_npz(path)
        labels = arrays.pop(LABELS_KEY, None)
        return cls(arrays, labels, str(path))

    def describe(self, index: int) -> str:
        """'sample 3' or 'sample 3 (cats/a.png)'."""
        if self.sample_ids is not None and index < len(self.sample_ids):
            return f"sample {index} ({self.sample_ids[index]})"
        return f"sample {index}"

    def check(self, specs: list[TensorSpec]) -> None:
        """Names, dtypes, shapes against the graph; NaN/Inf named by input and sample."""
        expected = {s.name for s in specs}
        missing, extra = expected - set(self.arrays), set(self.arrays) - expected
        if missing or extra:
            raise EdgecError(
                f"{self.source}: inputs {sorted(self.arrays)} do not match the graph's inputs "
                f"{sorted(expected)}"
                + (f"; missing input {', '.join(repr(m) for m in sorted(missing))}" if missing else "")
                + (f"; unknown input {', '.join(repr(x) for x in sorted(extra))}" if extra else "")
                + f" (every sample is affected, from {self.describe(0)})"
            )
        if len(self) == 0:
            name = sorted(self.arrays)[0] if self.arrays else "(none)"
            raise EdgecError(f"{self.source}: input '{name}' holds zero samples (sample 0 does not exist)")
        for spec in specs:
            array = self.arrays[spec.name]
            try:
                spec.check(array, self.source)
            except EdgecError as exc:
                # Arrays are stacked, so every sample has the fault; point at the first one.
                raise EdgecError(f"{exc} [first axis = sample; {self.describe(0)} onward]") from exc
            if array.dtype.kind in "fc":
                bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
                if bad.any():
                    index = int(np.argmax(bad))
                    raise EdgecError(
                        f"{self.source}: input '{spec.name}', {self.describe(index)} contains NaN or Inf "
                        f"({int(bad.sum())} bad sample(s) in all)"
                    )
        if self.labels is not None and len(self.labels) != len(self):
            raise EdgecError(f"{self.source}: {len(self.labels)} labels for {len(self)} samples")

    def sample(self, count: int, seed: int) -> CalibrationSet:
        """`count` samples chosen by `seed`, stratified by label when labels exist."""
        index = choose_indices(len(self), self.labels, count, seed)
        labels = None if self.labels is None else self.labels[index]
        ids = None if self.sample_ids is None else [self.sample_ids[i] for i in index]
        return CalibrationSet({k: v[index] for k, v in self.arrays.items()}, labels, self.source, ids)

    def fingerprint(self) -> str:
        """sha256 over names, dtypes, shapes and bytes of the samples used."""
        digest = hashlib.sha256()
        for name in sorted(self.arrays):
            array = np.ascontiguousarray(self.arrays[name])
            digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
            digest.update(array.tobytes())
        if self.labels is not None:
            digest.update(b"labels|" + np.ascontiguousarray(self.labels).tobytes())
        return digest.hexdigest()

    def to_npz_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **self.arrays)
        return buffer.getvalue()

    def feeds(self, limit: int | None = None) -> list[dict[str, np.ndarray]]:
        """One feed per sample, batch dimension kept (shape [1, …])."""
        n = len(self) if limit is None else min(limit, len(self))
        return [{k: v[i : i + 1] for k, v in self.arrays.items()} for i in range(n)]


def choose_indices(n: int, labels: np.ndarray | None, count: int, seed: int) -> np.ndarray:
    """Sorted indices of `count` of `n` samples, stratified by label when labels exist."""
    if count >= n:
        return np.arange(n)
    if labels is None:
        return np.sort(np.random.default_rng(seed).choice(n, count, replace=False))
    return _stratified(labels, count, seed)


def _stratified(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Draw `count` indices keeping each label's share (largest remainders get the leftovers)."""
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(labels, return_inverse=True)
    shares = np.bincount(inverse) * count / len(labels)
    take = np.floor(shares).astype(int)
    for cls in np.argsort(-(shares - take))[: count - take.sum()]:
        take[cls] += 1
    chosen = [rng.choice(np.flatnonzero(inverse == c), take[c], replace=False) for c in range(len(classes))]
    return np.sort(np.concatenate(chosen))
