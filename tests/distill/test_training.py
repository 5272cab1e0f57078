"""Training behaviour: resume after an interruption, early stopping, unlabeled data, hint losses."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.torch import load_file

from edgec.config import load_config
from edgec.distill import run_distill
from tests.distill.conftest import digits_config
from tests.distill.zoo import CountingConvNet

quiet = lambda _m: None  # noqa: E731


class Interrupt(Exception):
    """Raised from a training callback to stop a run mid-way, as a kill would."""


def _write(tmp_path, text, name="edgec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_config(path)


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, digits_teacher):
    config = _write(tmp_path, digits_config(digits_teacher, epochs=4))
    whole = run_distill(config, tmp_path / "whole", log=quiet)

    def stop_after_second(epoch, _history):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_distill(config, tmp_path / "cut", log=quiet, on_epoch_end=stop_after_second)
    assert not (tmp_path / "cut" / "student").exists()  # nothing half-written
    resumed = run_distill(config, tmp_path / "cut", log=quiet)
    assert resumed.training["resumed_from"] == 2
    assert resumed.training["train_loss"] == pytest.approx(whole.training["train_loss"], rel=1e-5)
    a = load_file(str(whole.path / "student.safetensors"))
    b = load_file(str(resumed.path / "student.safetensors"))
    assert a.keys() == b.keys()
    assert all(np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-5) for k in a)


def test_early_stopping_on_the_validation_metric(tmp_path, digits_teacher):
    # At a learning rate this small accuracy barely moves (only BatchNorm statistics do), so it stalls.
    text = (
        digits_config(digits_teacher, epochs=8).replace("lr: 0.003", "lr: 1.0e-9").replace("patience: 4", "patience: 2")
    )
    result = run_distill(_write(tmp_path, text), tmp_path / "out", log=quiet)
    t = result.training
    assert t["stopped_early"] and t["monitor"] == "accuracy"
    assert result.provenance["epochs"] == t["best_epoch"] + 1 + 2 < 8  # best epoch, then `patience` without gain
    assert max(t["val_metric"][t["best_epoch"] + 1 :]) <= t["val_metric"][t["best_epoch"]]
    assert result.fidelity["student_accuracy"] == pytest.approx(max(t["val_metric"]), abs=15)  # best weights kept


def test_unlabeled_data_distils_from_soft_labels_alone(tmp_path, digits_teacher):
    text = digits_config(digits_teacher, train=digits_teacher.unlabeled, epochs=8)
    text = "\n".join(line for line in text.splitlines() if "validation:" not in line and "test:" not in line)
    result = run_distill(_write(tmp_path, text), tmp_path / "out", log=quiet)
    assert result.training["monitor"] == "agreement"
    assert "per_class" not in result.fidelity and result.provenance["teacher_metric"] is None
    assert result.fidelity["top1_agreement"] > 80, result.fidelity


def test_hint_loss_with_projection_runs_the_teacher_live(tmp_path, digits_teacher):
    # features.9 is the third block's ReLU: 32 teacher channels, 16 student channels -> 1x1 conv projection.
    extra = "    - {kind: hint, teacher_layer: features.9, student_layer: features.9, weight: 0.5}"
    text = digits_config(digits_teacher, teacher_module="tests.distill.zoo:CountingConvNet", epochs=2,
                         extra_losses=extra)  # fmt: skip
    CountingConvNet.calls = 0
    result = run_distill(_write(tmp_path, text), tmp_path / "out", log=quiet)
    n_batches = -(-len(np.load(digits_teacher.train)["input"]) // 64)
    assert CountingConvNet.calls >= 2 * n_batches  # hints need the teacher's inner layers every step
    assert result.provenance["losses"][1] == {"kind": "hint", "weight": 0.5, "teacher_layer": "features.9",
                                              "student_layer": "features.9"}  # fmt: skip
    assert result.fidelity["top1_agreement"] > 70
    # The projection trained with the student but is not part of it.
    assert not any(k.startswith("projections") for k in load_file(str(result.path / "student.safetensors")))
