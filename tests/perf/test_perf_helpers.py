"""Fast checks of the perf scripts' helpers (no timing thresholds: those live in perf/)."""

from __future__ import annotations

import numpy as np
import pytest

from perf import build_time, common, texts
from perf.minilm_student import teacher_layers_for


def test_interleaved_runs_every_variant_once_per_round_in_order():
    calls = []
    variants = {name: (lambda n: lambda feed: calls.append((n, feed["i"])))(name) for name in "ABC"}
    feeds = [{"i": 0}, {"i": 1}]
    samples = common.interleaved(variants, feeds, rounds=4, warmup=1)
    assert {k: len(v) for k, v in samples.items()} == {"A": 4, "B": 4, "C": 4}
    timed = calls[3:]  # one warm-up call each first
    assert [n for n, _ in timed] == list("ABC") * 4
    assert [i for _, i in timed] == [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1]  # same input for every variant
    with pytest.raises(ValueError):
        common.interleaved({}, feeds, rounds=1)


def test_table_ratios_and_markdown():
    rows = common.rows_from({"ref": [2.0, 2.0, 2.0], "fast": [1.0, 1.0, 1.0]}, {"fast": {"cos min": 0.99}})
    text = common.table(rows, reference="ref", extra_columns=("cos min",))
    fast_line = next(line for line in text.splitlines() if line.startswith("fast"))
    assert "0.500" in fast_line and "0.9900" in fast_line
    md = common.table(rows, reference="ref", extra_columns=("cos min",), markdown=True).splitlines()
    assert md[0].startswith("| variant | p50 ms") and md[1].startswith("| --- |") and len(md) == 4
    assert "| — |" in md[2]  # the reference has no cos value: a dash, not a fake number
    with pytest.raises(ValueError):
        common.table(rows, reference="missing")


def test_mean_pool_ignores_padding_and_cosines():
    hidden = np.array([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(common.mean_pool(hidden, mask), [[2.0, 0.0]])
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(common.cosines(a, np.array([[2.0, 0.0], [1.0, 0.0]])), [1.0, 0.0], atol=1e-12)


def test_machine_description_has_cpu_and_load():
    info = common.machine()
    assert info["cpu_count"] >= 1 and info["cpu_model"]
    assert "cores" in common.machine_line(info)


def test_text_parts_are_disjoint_and_stable(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    sentences = [f"This function number {i} returns the value that the caller asked for." for i in range(60)]
    (lib / "mod.py").write_text('"""' + " ".join(sentences) + '"""\n\ndef f():\n    """x = 1; y = [2, 3]"""\n')
    found = texts.stdlib_sentences(str(lib))
    assert len(found) == 60 and all(s in sentences for s in found)  # the code-like docstring is dropped
    texts.stdlib_sentences.cache_clear()
    real = texts.stdlib_sentences()
    assert len(real) > 5000
    parts = {p: set(texts.split(p)) for p in ("train", "calib", "heldout")}
    assert not parts["train"] & parts["heldout"] and not parts["calib"] & parts["heldout"]
    assert sum(len(p) for p in parts.values()) == len(real)
    assert texts.split("heldout", 5) == texts.split("heldout")[:5]
    with pytest.raises(ValueError):
        texts.split("test")


def test_student_layers_keep_the_first_and_the_last_teacher_layer():
    assert teacher_layers_for(1) == [5]
    assert teacher_layers_for(2) == [0, 5]
    assert teacher_layers_for(3) == [0, 2, 5]  # round(2.5) == 2
    assert teacher_layers_for(6) == list(range(6))


def test_build_time_counts_cached_and_done_stages():
    log = "• train teacher: done (demo-train ab)\n• quantize int8: cached (quantize cd)\n• x: cached (build ef)\n"
    assert build_time.cached_stages(log) == (2, 1)
    table = build_time.report({"cold_s": 100.0, "cached_s": 5.0, "ratio": 0.05, "cold_stages": (0, 6),
                               "cached_stages": (6, 0)}, markdown=True)  # fmt: skip
    assert "| cached (same folder) | 5.0 | 6 / 0 | 0.050 |" in table and "cached / cold = 0.050" in table
