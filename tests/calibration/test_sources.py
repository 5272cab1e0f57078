"""Calibration sources: files/folders, images with preprocessing, text + tokenizer, a callable;
deterministic, stratified sampling; fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.calibration.dataset import CalibrationSet
from edgec.calibration.sources import load_calibration
from edgec.compile.graph import TensorSpec
from edgec.config import CalibrationConfig
from edgec.errors import EdgecError

IMAGE = [TensorSpec("pixels", "float32", ("batch", 3, 6, 5))]


def _cfg(tmp_path, **values) -> CalibrationConfig:
    return CalibrationConfig.model_validate(values, context={"base_dir": tmp_path})


def test_npy_folder_and_npz_chunks_are_keyed_by_input_name(tmp_path):
    specs = [TensorSpec("a", "float32", ("batch", 2)), TensorSpec("b", "int64", ("batch",))]
    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "a.npy", np.ones((6, 2), np.float32))
    np.save(npy / "b.npy", np.arange(6))
    data = load_calibration(_cfg(tmp_path, data="npy", samples=4), specs)
    assert len(data) == 4 and set(data.arrays) == {"a", "b"}
    chunks = tmp_path / "chunks"
    chunks.mkdir()
    for i in range(3):
        np.savez(chunks / f"part{i}.npz", a=np.full((2, 2), i, np.float32), b=np.arange(2) + 10 * i)
    data = load_calibration(_cfg(tmp_path, data="chunks", samples=100), specs)
    assert data.arrays["b"].tolist() == [0, 1, 10, 11, 20, 21]


def test_sampling_is_deterministic_and_stratified_by_label():
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    data = CalibrationSet({"x": np.arange(100, dtype=np.float32)[:, None]}, labels)
    a, b, c = data.sample(20, 0), data.sample(20, 0), data.sample(20, 1)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert np.bincount(a.labels).tolist() == [8, 6, 4, 2]


def _write_images(folder, rng):
    from PIL import Image

    for label in ("cat", "dog"):
        (folder / label).mkdir(parents=True)
        for i in range(5):
            pixels = rng.integers(0, 256, size=(9, 7, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / label / f"{i}.png")


def test_image_folder_resizes_normalizes_and_lays_out_like_the_app(tmp_path):
    from PIL import Image

    _write_images(tmp_path / "imgs", np.random.default_rng(0))
    prep = {"size": [6, 5], "layout": "NCHW", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}
    data = load_calibration(_cfg(tmp_path, images="imgs", preprocess=prep, samples=4, seed=3), IMAGE)
    assert data.arrays["pixels"].shape == (4, 3, 6, 5) and data.arrays["pixels"].dtype == np.float32
    assert np.bincount(data.labels).tolist() == [2, 2]  # stratified over the class folders
    # Sample 0 recomputed by hand from its file.
    with Image.open(tmp_path / "imgs" / data.sample_ids[0]) as image:
        expected = np.asarray(image.convert("RGB").resize((5, 6), Image.BILINEAR), np.float32) / 255
    expected = ((expected - [0.5, 0.4, 0.3]) / [0.2, 0.25, 0.3]).transpose(2, 0, 1)
    np.testing.assert_allclose(data.arrays["pixels"][0], expected, rtol=1e-5, atol=1e-5)
    nhwc = [TensorSpec("pixels", "float32", ("batch", 6, 5, 3))]
    data2 = load_calibration(
        _cfg(tmp_path, images="imgs", preprocess={**prep, "layout": "NHWC"}, samples=4, seed=3), nhwc
    )
    np.testing.assert_allclose(data2.arrays["pixels"], data.arrays["pixels"].transpose(0, 2, 3, 1))


def test_unreadable_image_is_named(tmp_path):
    _write_images(tmp_path / "imgs", np.random.default_rng(0))
    (tmp_path / "imgs" / "cat" / "2.png").write_bytes(b"not a png")
    with pytest.raises(EdgecError, match=r"input 'pixels', sample \d \(cat/2.png\) is not a readable image"):
        load_calibration(_cfg(tmp_path, images="imgs", preprocess={"size": [6, 5]}, samples=10), IMAGE)


def test_text_file_and_tokenizer_fill_the_graph_token_inputs(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "the": 2, "cat": 3, "sat": 4, "on": 5, "mat": 6}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    (tmp_path / "tok").mkdir()
    tokenizer.save(str(tmp_path / "tok" / "tokenizer.json"))
    (tmp_path / "lines.txt").write_text("the cat sat\n\non the mat the cat sat on the mat again\n")
    specs = [TensorSpec("input_ids", "int64", ("batch", 6)), TensorSpec("attention_mask", "int64", ("batch", 6))]
    data = load_calibration(_cfg(tmp_path, text="lines.txt", tokenizer="tok"), specs)
    assert data.arrays["input_ids"].tolist() == [[2, 3, 4, 0, 0, 0], [5, 2, 6, 2, 3, 4]]
    assert data.arrays["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6]
    assert data.sample_ids == ["line 1", "line 3"]


def test_callable_from_a_file_next_to_the_config(tmp_path):
    (tmp_path / "make_data.py").write_text(
        "import numpy as np\ndef samples():\n    return [{'x': np.full((2,), i, np.float32)} for i in range(5)]\n"
    )
    specs = [TensorSpec("x", "float32", ("batch", 2))]
    data = load_calibration(_cfg(tmp_path, callable="make_data.py:samples", samples=3), specs)
    assert data.arrays["x"].shape == (3, 2)
    with pytest.raises(EdgecError, match="has no attribute 'nope'"):
        load_calibration(_cfg(tmp_path, callable="make_data.py:nope"), specs)


def test_callable_returning_nan_names_input_and_sample(tmp_path):
    (tmp_path / "bad.py").write_text("import numpy as np\nx = np.zeros((4, 2), np.float32)\nx[2, 1] = np.nan\n"
                                     "def make():\n    return {'x': x}\n")  # fmt: skip
    with pytest.raises(EdgecError, match=r"input 'x', sample 2 contains NaN"):
        load_calibration(_cfg(tmp_path, callable="bad.py:make"), [TensorSpec("x", "float32", ("batch", 2))])
