"""Each registered loss against values worked out by hand (shown in the comments)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from edgec.distill.losses import (
    LOSSES,
    attention_loss,
    cosine_embedding_loss,
    hidden_state_loss,
    hint_loss,
    kd_loss,
    make_projection,
    mse_embedding_loss,
)
from edgec.errors import EdgecError

# teacher softmax [3/4, 1/4] against a uniform student: KL = 3/4 ln(3/2) + 1/4 ln(1/2)
KL_34 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)  # 0.130812


def test_registry_names_every_loss():
    assert set(LOSSES) == {"kd", "mse", "cosine", "hint", "hidden", "attention"}


def test_kd_soft_term_is_t_squared_kl():
    student = torch.zeros(1, 2)
    teacher = torch.tensor([[2 * math.log(3), 0.0]])  # / T=2 -> [ln 3, 0] -> softmax [3/4, 1/4]
    assert float(kd_loss(student, teacher, temperature=2.0)) == pytest.approx(4 * KL_34, rel=1e-5)


def test_kd_mixes_hard_labels_by_alpha():
    student = torch.zeros(1, 2)
    teacher = torch.tensor([[2 * math.log(3), 0.0]])
    # 0.7 * 4 * KL + 0.3 * CE(uniform over 2, label 0) = 0.7 * 0.523248 + 0.3 * ln 2
    expected = 0.7 * 4 * KL_34 + 0.3 * math.log(2)
    got = kd_loss(student, teacher, torch.tensor([0]), temperature=2.0, alpha=0.7)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    assert float(got) == pytest.approx(0.574218, abs=1e-5)


def test_kd_is_zero_when_student_matches_teacher():
    logits = torch.tensor([[1.0, -2.0, 0.5]])
    assert float(kd_loss(logits, logits)) == pytest.approx(0.0, abs=1e-7)


def test_mse_and_cosine_embedding_losses():
    assert float(mse_embedding_loss(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2))) == pytest.approx(2.5)
    student = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    teacher = torch.tensor([[0.0, 1.0], [2.0, 2.0], [-3.0, 0.0]])  # cos 0, 1, -1 -> losses 1, 0, 2
    assert float(cosine_embedding_loss(student, teacher)) == pytest.approx(1.0)


def test_hint_loss_through_a_projection():
    projection = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        projection.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    # [1, 2] -> [1, 2, 3] against [1, 2, 4]: (0 + 0 + 1) / 3
    got = hint_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 2.0, 4.0]]), projection)
    assert float(got.detach()) == pytest.approx(1 / 3)
    assert float(hint_loss(torch.ones(2, 3), torch.zeros(2, 3))) == pytest.approx(1.0)


def test_hidden_state_loss_leaves_out_padding():
    student = torch.tensor([[[1.0, 1.0], [9.0, 9.0]]])
    teacher = torch.zeros(1, 2, 2)
    mask = torch.tensor([[1, 0]])  # token 1 is padding: its error of 81 must not count
    assert float(hidden_state_loss(student, teacher, mask)) == pytest.approx(1.0)
    assert float(hidden_state_loss(student, teacher)) == pytest.approx(41.0)


def test_attention_loss_is_kl_of_attention_rows():
    teacher = torch.tensor([[[[0.5, 0.5]]]])
    student = torch.tensor([[[[0.25, 0.75]]]])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)  # 0.143841
    assert float(attention_loss(student, teacher)) == pytest.approx(expected, rel=1e-5)
    # a second, padded query row with a different distribution is left out by the mask
    t2 = torch.cat([teacher, torch.tensor([[[[1.0, 0.0]]]])], dim=2)
    s2 = torch.cat([student, torch.tensor([[[[0.0, 1.0]]]])], dim=2)
    assert float(attention_loss(s2, t2, torch.tensor([[1, 0]]))) == pytest.approx(expected, rel=1e-5)


def test_projection_kinds_and_shape_errors():
    assert make_projection(torch.Size([2, 8, 4, 4]), torch.Size([2, 8, 4, 4]), "x") is None
    conv = make_projection(torch.Size([2, 8, 4, 4]), torch.Size([2, 16, 4, 4]), "x")
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.out_channels == 16
    linear = make_projection(torch.Size([2, 5, 32]), torch.Size([2, 5, 64]), "x")
    assert isinstance(linear, nn.Linear) and (linear.in_features, linear.out_features) == (32, 64)
    with pytest.raises(EdgecError, match="differ beyond the width axis"):
        make_projection(torch.Size([2, 8, 4, 4]), torch.Size([2, 16, 2, 2]), "hint")
    with pytest.raises(EdgecError, match="different ranks"):
        make_projection(torch.Size([2, 8]), torch.Size([2, 8, 1, 1]), "hint")
