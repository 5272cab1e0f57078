"""Calibration sources named in the `calibration:` section, each turned into a `CalibrationSet`.

- `data`: .npz/.npy file or folder (see `dataset.load_folder`);
- `images`: a folder of images (sub-folders = class labels) with the app's preprocessing;
- `text` + `tokenizer`: one sample per line, tokenized by a Hugging Face `tokenizer.json`;
- `callable`: "module:attr" or "file.py:attr", called with no arguments.

Sampling happens before images are decoded, so a folder of 100k photos costs only `samples` reads.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np

from edgec.calibration.dataset import LABELS_KEY, CalibrationSet, choose_indices
from edgec.compile.graph import TensorSpec
from edgec.config import CalibrationConfig, ImagePreprocess
from edgec.errors import EdgecError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".ppm", ".pgm", ".tif", ".tiff"}


def load_calibration(cfg: CalibrationConfig, specs: list[TensorSpec]) -> CalibrationSet:
    """The configured source, checked against the graph's inputs and sampled (count, seed)."""
    if cfg.data is not None:
        data = CalibrationSet.from_file(cfg.data)
    elif cfg.images is not None:
        return _checked(load_images(cfg.images, cfg.preprocess, specs, cfg.samples, cfg.seed), specs)
    elif cfg.text is not None:
        data = load_text(cfg.text, cfg.tokenizer, specs, cfg.max_length)
    else:
        data = load_callable(cfg.callable, specs)
    data.check(specs)
    return data.sample(cfg.samples, cfg.seed)


def _checked(data: CalibrationSet, specs: list[TensorSpec]) -> CalibrationSet:
    data.check(specs)
    return data


def _only_input(specs: list[TensorSpec], asked: str | None, where: str) -> TensorSpec:
    by_name = {s.name: s for s in specs}
    if asked is not None:
        if asked not in by_name:
            raise EdgecError(f"{where}: input '{asked}' is not a graph input ({', '.join(by_name)})")
        return by_name[asked]
    if len(specs) != 1:
        raise EdgecError(f"{where}: the graph has inputs {list(by_name)}; name the one images feed (preprocess.input)")
    return specs[0]


def image_files(folder: Path) -> tuple[list[Path], np.ndarray | None, list[str]]:
    """Images in sorted order; labels from class sub-folders when every image sits in one."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EdgecError(
            f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}); input 'images', sample 0 does not exist"
        )
    parents = [p.relative_to(folder).parts for p in files]
    if all(len(parts) == 2 for parts in parents):
        classes = sorted({parts[0] for parts in parents})
        labels = np.array([classes.index(parts[0]) for parts in parents], dtype=np.int64)
        return files, labels, classes
    return files, None, []


def load_images(folder: Path, prep: ImagePreprocess, specs: list[TensorSpec], count: int, seed: int) -> CalibrationSet:
    from PIL import Image, UnidentifiedImageError

    spec = _only_input(specs, prep.input, f"{folder}")
    files, labels, _classes = image_files(folder)
    index = choose_indices(len(files), labels, count, seed)
    channels = 3 if prep.color == "rgb" else 1
    mean, std = _per_channel(prep.mean, channels, "mean"), _per_channel(prep.std, channels, "std")
    resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}[prep.resample]
    height, width = prep.size
    samples, ids = [], []
    for i in index:
        path = files[i]
        ids.append(path.relative_to(folder).as_posix())
        try:
            with Image.open(path) as image:
                pixels = image.convert("RGB" if channels == 3 else "L").resize((width, height), resample)
        except (OSError, UnidentifiedImageError) as exc:
            raise EdgecError(
                f"{folder}: input '{spec.name}', sample {len(samples)} ({ids[-1]}) is not a readable image ({exc})"
            ) from exc
        array = np.asarray(pixels, dtype=np.float32).reshape(height, width, channels) * prep.scale
        array = (array - mean) / std
        samples.append(array.transpose(2, 0, 1) if prep.layout == "NCHW" else array)
    dtype = np.dtype(spec.dtype) if np.dtype(spec.dtype).kind == "f" else np.float32
    stacked = np.stack(samples).astype(dtype)
    return CalibrationSet({spec.name: stacked}, None if labels is None else labels[index], str(folder), ids)


def _per_channel(values: list[float], channels: int, key: str) -> np.ndarray:
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise EdgecError(f"calibration.preprocess.{key}: {len(values)} values for {channels} channel(s)")
    if key == "std" and any(v == 0 for v in values):
        raise EdgecError("calibration.preprocess.std: a value is 0")
    return np.asarray(values, dtype=np.float32)


_TOKENIZER_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


def load_text(text_file: Path, tokenizer_dir: Path, specs: list[TensorSpec], max_length: int) -> CalibrationSet:
    """Lines of `text_file` tokenized to fixed length (the graph's, when its sequence dim is fixed)."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise EdgecError("text calibration needs the 'tokenizers' package: pip install 'edgec[hf]'") from exc
    tokenizer_file = tokenizer_dir / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise EdgecError(f"{tokenizer_dir}: no tokenizer.json (save one with tokenizer.save_pretrained)")
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception as exc:  # noqa: BLE001 - the Rust binding raises plain Exception
        raise EdgecError(f"{tokenizer_file}: not a readable tokenizer ({exc})") from exc
    wanted = [s for s in specs if s.name in _TOKENIZER_FIELDS]
    if not wanted:
        raise EdgecError(f"{text_file}: the graph's inputs {[s.name for s in specs]} are not tokenizer outputs "
                         f"({', '.join(_TOKENIZER_FIELDS)})")  # fmt: skip
    fixed = [s.shape[1] for s in wanted if len(s.shape) > 1 and isinstance(s.shape[1], int)]
    length = fixed[0] if fixed else max_length
    pad_id = next(
        (tokenizer.token_to_id(t) for t in ("[PAD]", "<pad>", "<|pad|>") if tokenizer.token_to_id(t) is not None), 0
    )
    tokenizer.enable_truncation(length)
    tokenizer.enable_padding(length=length, pad_id=pad_id)
    lines = [(n, line) for n, line in enumerate(text_file.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    encodings = tokenizer.encode_batch([line for _, line in lines]) if lines else []
    arrays = {
        s.name: np.array([getattr(e, _TOKENIZER_FIELDS[s.name]) for e in encodings], dtype=s.dtype).reshape(len(encodings), length)
        for s in wanted
    }  # fmt: skip
    return CalibrationSet(arrays, None, str(text_file), [f"line {n}" for n, _ in lines])


def resolve_callable(target: str):
    """'pkg.mod:attr' imported, or '/abs/file.py:attr' loaded from that file."""
    module_part, attr = target.rsplit(":", 1)
    try:
        if module_part.endswith(".py"):
            path = Path(module_part)
            spec = importlib.util.spec_from_file_location(f"edgec_user_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_part)
    except ImportError as exc:
        raise EdgecError(f"calibration.callable: cannot import '{module_part}' ({exc})") from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise EdgecError(f"calibration.callable: '{module_part}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    if not callable(obj):
        raise EdgecError(f"calibration.callable: '{target}' is not callable")
    return obj


def load_callable(target: str, specs: list[TensorSpec]) -> CalibrationSet:
    """The callable returns {input name: array} (optionally 'labels'), one array for a one-input
    graph, or a list of per-sample feeds (stacked here)."""
    value = resolve_callable(target)()
    if isinstance(value, np.ndarray):
        if len(specs) != 1:
            raise EdgecError(f"{target}: returned one array but the graph has inputs {[s.name for s in specs]}")
        value = {specs[0].name: value}
    elif isinstance(value, (list, tuple)):
        if not value:
            name = specs[0].name if specs else "(none)"
            raise EdgecError(f"{target}: input '{name}' holds zero samples (sample 0 does not exist)")
        for i, feed in enumerate(value):
            if not isinstance(feed, dict):
                raise EdgecError(f"{target}: sample {i} is a {type(feed).__name__}, expected {{input name: array}}")
        keys = set(value[0])
        for i, feed in enumerate(value):
            if set(feed) != keys:
                raise EdgecError(f"{target}: sample {i} has inputs {sorted(feed)}, sample 0 has {sorted(keys)}")
        value = {k: np.stack([np.asarray(feed[k]) for feed in value]) for k in keys}
    if not isinstance(value, dict):
        raise EdgecError(
            f"{target}: returned {type(value).__name__}; expected a dict of arrays, an array or a list of dicts"
        )
    arrays = {}
    for name, array in value.items():
        if not isinstance(array, np.ndarray):
            raise EdgecError(f"{target}: input '{name}' is a {type(array).__name__}, expected a numpy array")
        arrays[str(name)] = array
    labels = arrays.pop(LABELS_KEY, None)
    return CalibrationSet(arrays, labels, target)
