"""The table `edgec distill` prints, built from the `DistillResult` the API returns."""

from __future__ import annotations

from rich.table import Table


def distill_table(result) -> Table:
    p, f, t = result.provenance, result.fidelity, result.training
    table = Table("", "teacher", "student", title=f"edgec distill ({p['task']}, {p['epochs']} epochs)")
    table.add_row("parameters", f"{p['teacher_params']:,}",
                  f"{p['student_params']:,} ({p['student_params'] / p['teacher_params']:.1%})")  # fmt: skip
    if f["task"] == "embedding":
        table.add_row("cosine to teacher (mean / p5 / min)", "1",
                      f"{f['mean_cosine']:.4f} / {f['p5_cosine']:.4f} / {f['min_cosine']:.4f}")  # fmt: skip
    else:
        table.add_row("top-1 agreement %", "100", f"{f['top1_agreement']:.2f}")
        table.add_row("mean KL(teacher || student)", "0", f"{f['mean_kl']:.4f}")
        if "student_accuracy" in f:
            table.add_row("accuracy %", f"{f['teacher_accuracy']:.2f}", f"{f['student_accuracy']:.2f}")
            table.add_row("ECE", f"{f['teacher_ece']:.4f}", f"{f['student_ece']:.4f}")
            table.add_row("largest per-class gap (points)", "", f"{f['max_class_gap']:.2f}")
    table.add_row("teacher", p["teacher"]["source"], f"sha256 {p['teacher']['sha256'][:16]}…, "
                  f"licence {p['teacher']['license'] or 'not declared'}")  # fmt: skip
    best = t["best_epoch"]
    table.add_row("training", "", f"best epoch {best + 1 if best is not None else '—'}"
                  + (", stopped early" if t["stopped_early"] else ""))  # fmt: skip
    return table
