"""Fidelity metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgec.distill.fidelity import classification_report, cosines, embedding_report, expected_calibration_error, mean_kl


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1], [0.6, 0.4]])
    labels = np.array([0, 1])  # right at 0.9 confidence, wrong at 0.6: 0.5 * 0.1 + 0.5 * 0.6
    assert expected_calibration_error(probs, labels) == pytest.approx(0.35)


def test_mean_kl_by_hand():
    teacher = np.array([[math.log(3), 0.0]])  # softmax [3/4, 1/4]
    student = np.zeros((1, 2))
    assert mean_kl(teacher, student) == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5), rel=1e-6)


def test_classification_report_agreement_and_class_gaps():
    teacher = np.array([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0], [0.0, 2.0]])
    student = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [0.0, 2.0]])
    labels = np.array([0, 0, 1, 1])
    report = classification_report(teacher, student, labels)
    assert report["top1_agreement"] == 75.0
    assert report["teacher_accuracy"] == 100.0 and report["student_accuracy"] == 75.0
    assert report["per_class"]["0"]["gap"] == 50.0 and report["per_class"]["1"]["gap"] == 0.0
    assert report["max_class_gap"] == 50.0
    unlabeled = classification_report(teacher, student, None)
    assert "per_class" not in unlabeled and unlabeled["top1_agreement"] == 75.0


def test_embedding_report_cosines():
    teacher = np.array([[1.0, 0.0], [0.0, 1.0]])
    student = np.array([[2.0, 0.0], [1.0, 1.0]])  # cos 1 and 1/sqrt(2)
    assert cosines(teacher, student) == pytest.approx([1.0, 1 / math.sqrt(2)])
    report = embedding_report(teacher, student)
    assert report["mean_cosine"] == pytest.approx((1 + 1 / math.sqrt(2)) / 2)
    assert report["min_cosine"] == pytest.approx(1 / math.sqrt(2))
