"""The HTML report rendered by a real browser (headless Chromium): the plots must show."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest

from edgec.benchmarks import stats
from edgec.benchmarks.report_html import PALETTE, render_html
from edgec.benchmarks.report_markdown import render_markdown


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def read_png(path) -> np.ndarray:
    """Minimal PNG decoder (8-bit RGB/RGBA, non-interlaced: what Chromium writes) -> HxWxC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0
    bpp = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), np.int32)
    prev = np.zeros(width * bpp, np.int32)
    for y in range(height):
        kind, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 1:  # Sub: a running sum per channel
            row = np.cumsum(row.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:
            row = (row + prev) % 256
        elif kind in (3, 4):  # Average / Paeth depend on the pixel to the left: sequential
            cur = row.copy()
            for x in range(width * bpp):
                a = cur[x - bpp] if x >= bpp else 0
                b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
                if kind == 3:
                    cur[x] = (cur[x] + (a + b) // 2) % 256
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    cur[x] = (cur[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) % 256
            row = cur
        out[y], prev = row, row
    return out.reshape(height, width, bpp)[:, :, :3].astype(np.uint8)


def _report(name: str, precision: str, center: float, accuracy: float, seed: int) -> dict:
    samples = list(np.random.default_rng(seed).lognormal(np.log(center), 0.1, 400))
    return {
        "target": {"name": name, "backend": "onnxruntime", "backend_version": "1.31", "precision": precision},
        "quality": {"metric": "top1", "float": accuracy + 1, "quantized": accuracy},
        "samples_ms": samples, "summary": stats.summarize(samples), "warnings": [], "load_ms": 20.0,
        "first_inference_ms": 1.5, "peak_rss_bytes": 80 << 20, "environment": {"cpu_model": "test"},
        "inputs": {"source": "random"}, "files": [{"path": "model.onnx", "sha256": "ab" * 32}],
    }  # fmt: skip


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (`.ci/run` installs it)")
def test_html_plots_render_in_headless_chromium(tmp_path):
    report_set = {"device": {"address": "local"}, "created_at": "now", "edgec_version": "test",
                  "reports": [_report("host-cpu", "int8", 1.0, 97.0, 0), _report("host-openvino", "int8", 2.0, 96.5, 1)]}  # fmt: skip
    page = tmp_path / "report.html"
    page.write_text(render_html(report_set))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--hide-scrollbars", "--window-size=800,1300", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    pixels = read_png(shot)
    assert pixels.shape[:2] == (1300, 800)
    for i, hex_color in enumerate(PALETTE[:2]):
        rgb = [int(hex_color[k : k + 2], 16) for k in (1, 3, 5)]
        rows = np.nonzero((np.abs(pixels.astype(int) - rgb).sum(axis=2) <= 6).any(axis=1))[0]
        # Each target's color shows up as a filled histogram (hundreds of rows of bars) and again as
        # its point in the accuracy plot further down the page.
        assert len(rows) > 60, f"target {i} color {hex_color} barely visible ({len(rows)} rows)"
        assert rows.max() - rows.min() > 300, f"target {i} is missing from one of the plots"
    assert (pixels < 250).any(axis=2).mean() > 0.08  # not a blank page


def test_markdown_names_warnings_and_environment():
    report = _report("host-cpu", "int8", 1.0, 97.0, 0)
    report["warnings"] = stats.warnings_for({**report["summary"], "cv": 0.5})
    text = render_markdown({"device": {"address": "ssh://pi@board"}, "reports": [report]})
    assert "on ssh://pi@board" in text and "high variation" in text and "97.00 (top1)" in text
