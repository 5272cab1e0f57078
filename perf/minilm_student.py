"""A distilled all-MiniLM-L6-v2 student built by edgec against its teacher in PyTorch eager,
interleaved in one run, batch 1, 128 tokens, 2 threads. Acceptance: >= 15x faster, mean cosine
of mean-pooled embeddings to the teacher >= 0.90 on held-out sentences.

    PYTHONPATH=. python perf/minilm_student.py [--out perf-out] [--layers 2] [--epochs 2]

The student keeps the teacher's width and takes a few of its layers (evenly spaced), then is
trained to match the teacher's mean-pooled embeddings (MSE + cosine) on stdlib docstring
sentences (`perf/texts.py`, disjoint from the held-out ones). The training here is plain
torch/transformers on purpose, small enough to read; once `edgec.distill` has the Hugging Face
student derivation (issue 3) this should call it instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from perf import common, minilm, texts

TEACHER = "teacher: PyTorch eager fp32 (6 layers)"


def layer_choice(teacher_layers: int, student_layers: int) -> list[int]:
    """Evenly spaced teacher layers, always ending with the last (it shapes the output space)."""
    if not 1 <= student_layers <= teacher_layers:
        raise ValueError(f"student layers must be between 1 and {teacher_layers}")
    step = teacher_layers / student_layers
    return [round((i + 1) * step) - 1 for i in range(student_layers)]


def derive_student(teacher, student_layers: int):
    """A copy of the teacher with only the chosen encoder layers (embeddings copied too)."""
    import copy

    import torch

    keep = layer_choice(teacher.config.num_hidden_layers, student_layers)
    student = copy.deepcopy(teacher)
    student.encoder.layer = torch.nn.ModuleList([student.encoder.layer[i] for i in keep])
    student.config.num_hidden_layers = student_layers
    return student, keep


def distill(teacher, student, sentences: list[str], tokenizer, *, epochs: int, batch: int = 32,
            max_length: int = 64, lr: float = 1e-4, seed: int = 0) -> list[float]:  # fmt: skip
    """Match the teacher's mean-pooled embeddings: MSE + (1 - cosine). Returns the epoch losses."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    teacher.eval()
    student.train()
    opt = torch.optim.AdamW(student.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        total, count = 0.0, 0
        shuffled = [sentences[i] for i in rng.permutation(len(sentences))]
        for start in range(0, len(shuffled), batch):
            chunk = shuffled[start : start + batch]
            enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            mask = enc["attention_mask"].unsqueeze(-1).float()
            with torch.no_grad():
                target = (teacher(**enc).last_hidden_state * mask).sum(1) / mask.sum(1)
            got = (student(**enc).last_hidden_state * mask).sum(1) / mask.sum(1)
            loss = F.mse_loss(got, target) * 10 + (1 - F.cosine_similarity(got, target)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()) * len(chunk), count + len(chunk)
        losses.append(total / count)
    student.eval()
    return losses


def trained_student(work: Path, layers: int, epochs: int, train_n: int) -> Path:
    """The student's Hugging Face folder (safetensors), trained once and cached."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = work / f"student-L{layers}-e{epochs}-n{train_n}"
    if (folder / "config.json").is_file():
        return folder
    common.pin_threads()
    teacher_dir = minilm.teacher_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(teacher_dir))
    teacher = AutoModel.from_pretrained(str(teacher_dir))
    student, keep = derive_student(teacher, layers)
    losses = distill(teacher, student, texts.split("train", train_n), tokenizer, epochs=epochs)
    tmp = folder.with_name(folder.name + ".tmp")
    student.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    (tmp / "distill.json").write_text(json.dumps({"teacher_layers_kept": keep, "losses": losses,
                                                   "sentences": train_n, "torch": torch.__version__}))  # fmt: skip
    tmp.rename(folder)
    return folder


def run(work: Path, layers: int, epochs: int, train_n: int, rounds: int, heldout_n: int, calib_n: int) -> dict:
    student_dir = trained_student(work, layers, epochs, train_n)
    common.pin_threads()
    heldout = minilm.tokenize(texts.split("heldout", heldout_n))
    calib = minilm.tokenize(texts.split("calib", calib_n))
    onnx_path = minilm.export_optimum(student_dir, work / f"{student_dir.name}-export")
    engine = minilm.edgec_x86(onnx_path, student_dir, work / f"{student_dir.name}-edgec", calib)
    name = f"student: edgec x86 ({layers} layers)"
    variants = {TEACHER: minilm.torch_encoder(minilm.teacher_dir()), name: minilm.engine_encoder(engine)}
    reference = minilm.pooled(variants[TEACHER], heldout)
    extra = {}
    for label, infer in variants.items():
        cos = common.cosines(minilm.pooled(infer, heldout), reference)
        extra[label] = {"cos min": float(cos.min()), "cos mean": float(cos.mean())}
    samples = common.interleaved(variants, heldout, rounds=rounds)
    rows = common.rows_from(samples, extra)
    speedup = rows[0].summary["p50_ms"] / rows[1].summary["p50_ms"]
    distilled = json.loads((student_dir / "distill.json").read_text())
    return {"machine": common.machine(), "rows": rows, "speedup": speedup, "cos_mean": extra[name]["cos mean"],
            "student": {"layers": layers, "teacher_layers_kept": distilled["teacher_layers_kept"],
                        "epochs": epochs, "train_sentences": train_n, "losses": distilled["losses"]},
            "settings": {"rounds": rounds, "heldout": heldout_n, "seq": minilm.SEQ, "threads": common.THREADS}}  # fmt: skip


def report(result: dict, markdown: bool = False) -> str:
    text = common.table(result["rows"], reference=TEACHER, extra_columns=("cos min", "cos mean"), markdown=markdown)
    s = result["student"]
    return (f"{text}\n\nstudent: teacher layers {s['teacher_layers_kept']} kept, {s['epochs']} epoch(s) on "
            f"{s['train_sentences']} stdlib docstring sentences\nspeed-up over the teacher (p50): "
            f"{result['speedup']:.1f}x (acceptance >= 15); mean cosine to the teacher {result['cos_mean']:.4f} (>= 0.90)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("perf-out"))
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train", type=int, default=8000, help="training sentences")
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--calib", type=int, default=128)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    result = run(args.out / "minilm", args.layers, args.epochs, args.train, args.rounds, args.heldout, args.calib)
    print(common.machine_line(result["machine"]))
    print(report(result))
    payload = {**result, "rows": [{"name": r.name, "summary": r.summary, **r.extra} for r in result["rows"]]}
    common.write_result(args.out, "minilm_student.json", json.dumps(payload, indent=2))
    if args.markdown:
        common.write_result(args.markdown.parent, args.markdown.name, report(result, markdown=True))
    return 0 if result["speedup"] >= 15 and result["cos_mean"] >= 0.90 else 1


if __name__ == "__main__":
    sys.exit(main())
