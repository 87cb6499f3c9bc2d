"""Reliability of OETrainer training: gradient accumulation, resume, two processes, bf16 and metric properties.

Each training comparison pits two runs that must agree against each other and also checks that the
weights moved, so an update that does nothing cannot pass.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from oe_nlp.losses import energy_margin_loss, outlier_exposure_loss
from oe_nlp.metrics import aupr, auroc, fpr_at_tpr, ood_metrics
from oe_nlp.scores import SCORES, anomaly_scores
from oe_nlp.trainer import OETrainer, OETrainingArguments, outlier_batch_indices

from .conftest import REPO_ROOT, make_tiny_bert

TWO_RANK_SCRIPT = REPO_ROOT / "tests" / "scripts" / "two_rank_training.py"
HYPOTHESIS_SETTINGS = settings(max_examples=40, deadline=None)


def flat_weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([parameter.detach().flatten() for parameter in model.parameters()])


def sgd_args(tmp_path: Path, name: str, **overrides) -> OETrainingArguments:
    """Arguments for plain SGD with a constant learning rate and no clipping.

    Adam's first step is close to `lr * sign(gradient)`, which hides a gradient scaled by a constant
    factor. SGD without clipping moves the weights in proportion to the gradient, so it exposes one.
    """
    settings = {
        "output_dir": str(tmp_path / name),
        "optim": "sgd",
        "learning_rate": 0.5,
        "lr_scheduler_type": "constant",
        "max_grad_norm": 0.0,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 5,
        "use_cpu": True,
        "disable_tqdm": True,
    }
    settings.update(overrides)
    return OETrainingArguments(**settings)


# ---- Gradient accumulation ----


@HYPOTHESIS_SETTINGS
@given(
    num_outliers=st.integers(1, 20),
    batch_size=st.integers(1, 6),
    parts=st.integers(1, 4),
    batch_number=st.integers(0, 5),
    seed=st.integers(0, 2**16),
)
def test_outlier_split_batches_equal_large_batch(num_outliers, batch_size, parts, batch_number, seed):
    """Batches `n * parts + j` (j < parts) of size b cover the stream positions of batch n of size parts * b.

    Gradient accumulation (parts = accumulation steps) and several processes (parts = world size)
    therefore draw the same outliers per optimizer step as one process with a larger outlier batch.
    """
    split = [
        outlier_batch_indices(num_outliers, batch_size, seed, batch_number * parts + part)
        for part in range(parts)
    ]
    large = outlier_batch_indices(num_outliers, parts * batch_size, seed, batch_number)

    np.testing.assert_array_equal(np.concatenate(split), large)


def train_one_step(tmp_path, name, tokenizer, train_dataset, outliers, oe_loss, **overrides) -> OETrainer:
    loss_settings = (
        {"oe_weight": 0.5, "energy_m_in": -1.0, "energy_m_out": 1.0} if oe_loss == "energy" else {}
    )
    args = sgd_args(tmp_path, name, max_steps=1, oe_loss=oe_loss, **loss_settings, **overrides)
    trainer = OETrainer(
        model=make_tiny_bert(seed=2),
        args=args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        outlier_dataset=outliers,
    )
    return trainer


@pytest.mark.parametrize("oe_loss", ["uniform_ce", "energy"])
def test_accumulation_matches_large_batch(
    tmp_path, word_tokenizer, labelled_dataset, outlier_dataset, oe_loss
):
    data = (word_tokenizer, labelled_dataset, outlier_dataset, oe_loss)
    initial = flat_weights(make_tiny_bert(seed=2))

    large = train_one_step(tmp_path, "large", *data, per_device_train_batch_size=16, oe_batch_size=8)
    large.train()
    accumulated = train_one_step(
        tmp_path,
        "accumulated",
        *data,
        per_device_train_batch_size=4,
        oe_batch_size=2,
        gradient_accumulation_steps=4,
    )
    accumulated.train()

    assert large.state.global_step == 1
    assert accumulated.state.global_step == 1
    assert (flat_weights(large.model) - initial).abs().max() > 1e-2
    torch.testing.assert_close(flat_weights(accumulated.model), flat_weights(large.model), atol=1e-5, rtol=0)


def test_accumulation_without_division_differs(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    """Control: summing the 4 micro-batch losses instead of averaging them breaks the equality above."""
    data = (word_tokenizer, labelled_dataset, outlier_dataset, "uniform_ce")
    large = train_one_step(tmp_path, "large", *data, per_device_train_batch_size=16, oe_batch_size=8)
    large.train()
    summed = train_one_step(
        tmp_path,
        "summed",
        *data,
        per_device_train_batch_size=4,
        oe_batch_size=2,
        gradient_accumulation_steps=4,
    )
    summed.loss_is_scaled_for_ga = True  # Trainer then skips the division by the accumulation steps.
    summed.train()

    assert (flat_weights(summed.model) - flat_weights(large.model)).abs().max() > 1e-3


# ---- Resume from a checkpoint ----


class RecordingTrainer(OETrainer):
    """OETrainer that records the outlier batch number of every micro-step."""

    def _outlier_batch_number(self) -> int:
        number = super()._outlier_batch_number()
        self.outlier_batch_numbers.append(number)
        return number


def train_for_resume(
    tmp_path, name, tokenizer, train_dataset, outliers, resume_from=None
) -> RecordingTrainer:
    # 24 examples in batches of 4 with 2 accumulation steps: 3 optimizer steps per epoch, 6 in all.
    args = OETrainingArguments(
        output_dir=str(tmp_path / name),
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        oe_batch_size=3,
        num_train_epochs=2,
        learning_rate=5e-2,
        logging_steps=1,
        save_strategy="steps",
        save_steps=2,
        report_to="none",
        seed=9,
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = RecordingTrainer(
        model=make_tiny_bert(seed=3),
        args=args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        outlier_dataset=outliers,
    )
    trainer.outlier_batch_numbers = []
    trainer.train(resume_from_checkpoint=resume_from)
    return trainer


def step_logs(trainer: OETrainer) -> dict[int, tuple[float, float, float]]:
    return {
        entry["step"]: (entry["loss"], entry["loss_in"], entry["loss_oe"])
        for entry in trainer.state.log_history
        if "loss" in entry
    }


@pytest.mark.parametrize("checkpoint_step", [2, 4])
def test_resume_matches_uninterrupted_run(
    tmp_path, word_tokenizer, labelled_dataset, outlier_dataset, checkpoint_step
):
    """Checkpoints 2 and 4 both fall mid-epoch (3 optimizer steps per epoch), in epochs 1 and 2."""
    data = (word_tokenizer, labelled_dataset, outlier_dataset)
    full = train_for_resume(tmp_path, "full", *data)
    checkpoint = tmp_path / "full" / f"checkpoint-{checkpoint_step}"
    resumed = train_for_resume(tmp_path, "resumed", *data, resume_from=str(checkpoint))

    assert full.state.global_step == 6
    assert resumed.state.global_step == 6
    assert (flat_weights(full.model) - flat_weights(make_tiny_bert(seed=3))).abs().max() > 1e-2
    torch.testing.assert_close(flat_weights(resumed.model), flat_weights(full.model), atol=1e-6, rtol=0)

    # Micro-step m of optimizer step s draws outlier batch 2 * s + m, with or without the restart.
    assert full.outlier_batch_numbers == list(range(12))
    assert resumed.outlier_batch_numbers == list(range(2 * checkpoint_step, 12))

    # The resumed history starts with the entries stored in the checkpoint, then logs the later steps.
    full_logs = step_logs(full)
    resumed_logs = step_logs(resumed)
    assert sorted(resumed_logs) == list(range(1, 7))
    for step, values in resumed_logs.items():
        assert values == pytest.approx(full_logs[step], abs=1e-6), f"logged losses differ at step {step}"


# ---- Two processes ----


def load_two_rank_script():
    spec = importlib.util.spec_from_file_location("two_rank_training", TWO_RANK_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available, so torchrun cannot run 2 CPU processes",
)
def test_two_processes_match_one_process(tmp_path):
    """2 ranks with per-device batch b equal 1 rank with batch 2b, for the weights and every logged loss.

    Rank r draws outlier batch `2 * micro + r` of size b_out. Both ranks together cover the stream
    positions of batch `micro` of size 2 * b_out, which the single process draws. The in-distribution
    batches split the same way because accelerate hands consecutive batches of the sampler to the ranks.
    """
    losses = ["uniform_ce", "energy", "none"]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(TWO_RANK_SCRIPT),
        str(tmp_path / "two"),
        "--batch-size",
        "4",
        "--oe-batch-size",
        "2",
        "--oe-losses",
        *losses,
    ]
    completed = subprocess.run(
        command, check=False, env=environment, capture_output=True, text=True, timeout=180
    )
    assert completed.returncode == 0, (
        f"torchrun failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    )
    two_ranks = json.loads((tmp_path / "two" / "result.json").read_text())

    script = load_two_rank_script()
    for oe_loss in losses:
        one_rank = script.train(
            str(tmp_path / "one" / oe_loss), batch_size=8, oe_batch_size=4, oe_loss=oe_loss
        )

        assert two_ranks[oe_loss]["world_size"] == 2
        assert one_rank["world_size"] == 1
        assert len(two_ranks[oe_loss]["logs"]) == 6
        assert len(one_rank["logs"]) == 6
        np.testing.assert_allclose(two_ranks[oe_loss]["weights"], one_rank["weights"], atol=1e-5, rtol=0)
        for two_entry, one_entry in zip(two_ranks[oe_loss]["logs"], one_rank["logs"]):
            assert set(two_entry) == set(one_entry)
            for key in one_entry:
                assert two_entry[key] == pytest.approx(one_entry[key], abs=1e-5), f"{oe_loss} {key}"

    initial = np.concatenate([p.detach().numpy().ravel() for p in make_tiny_bert(seed=6).parameters()])
    assert np.abs(np.asarray(two_ranks["uniform_ce"]["weights"]) - initial).max() > 1e-2


# ---- bf16 logits on CPU ----

EXTREME_LOGITS = [
    [1e4, -1e4, 0.0, 5e3],
    [-1e4, -1e4, -1e4, -1e4],
    [1e4, 1e4, 1e4, 1e4],
    [1e4, 1e4, -1e4, 3.0],
    [-1e4, 2.0, -3.0, 0.5],
]


def log_softmax64(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def logsumexp64(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=-1))


def test_oe_loss_bf16_extreme_logits():
    logits = torch.tensor(EXTREME_LOGITS, dtype=torch.bfloat16, requires_grad=True)
    exact = logits.detach().double().numpy()  # the bf16 values themselves, without rounding

    loss = outlier_exposure_loss(logits)
    loss.backward()

    expected = (-log_softmax64(exact).mean(axis=-1)).mean()
    assert loss.dtype == torch.float32
    assert math.isfinite(loss.item())
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert torch.isfinite(logits.grad.float()).all()


@pytest.mark.parametrize(("m_in", "m_out"), [(-1e6, 1e6), (-25.0, -7.0), (0.0, 0.0), (1e4, 1e4)])
def test_energy_loss_bf16_extreme_margins(m_in, m_out):
    in_logits = torch.tensor(EXTREME_LOGITS, dtype=torch.bfloat16, requires_grad=True)
    out_logits = torch.tensor(EXTREME_LOGITS[::-1], dtype=torch.bfloat16, requires_grad=True)

    loss = energy_margin_loss(in_logits, out_logits, m_in=m_in, m_out=m_out)
    loss.backward()

    in_energy = -logsumexp64(in_logits.detach().double().numpy())
    out_energy = -logsumexp64(out_logits.detach().double().numpy())
    expected = (np.maximum(in_energy - m_in, 0) ** 2).mean() + (np.maximum(m_out - out_energy, 0) ** 2).mean()
    assert loss.dtype == torch.float32
    assert math.isfinite(loss.item())
    assert loss.item() == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert torch.isfinite(in_logits.grad.float()).all()
    assert torch.isfinite(out_logits.grad.float()).all()


def float64_scores(logits: np.ndarray) -> dict[str, np.ndarray]:
    log_probs = log_softmax64(logits)
    probs = np.exp(log_probs)
    return {
        "msp": -probs.max(axis=-1),
        "max_logit": -logits.max(axis=-1),
        "energy": -logsumexp64(logits),
        "uniform_cross_entropy": log_probs.mean(axis=-1),
        "entropy": -(probs * log_probs).sum(axis=-1),
    }


@pytest.mark.parametrize("name", sorted(SCORES))
def test_scores_of_bf16_logits_are_float32(name):
    # The last row has moderate logits. bf16 resolves only about 3 significant digits, so a score
    # computed in bf16 fails the tolerance below. max_logit is exact in bf16, so only its dtype check can fail.
    logits = torch.tensor(EXTREME_LOGITS + [[0.3, 1.7, -2.1, 0.9]], dtype=torch.bfloat16)

    scores = anomaly_scores(logits, name)

    expected = float64_scores(logits.double().numpy())[name]
    assert scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-6, atol=1e-6)


# ---- Metric and loss properties ----

SCORE_LISTS = st.lists(st.integers(-10, 10), min_size=1, max_size=30).map(
    lambda v: np.asarray(v, dtype=float)
)
INCREASING_TRANSFORMS = {
    "affine": lambda x: 3.0 * x + 7.0,
    "cubic": lambda x: x**3 + x,
    "exp": lambda x: np.exp(x / 4.0),
    "arctan": np.arctan,
}


@HYPOTHESIS_SETTINGS
@given(
    in_scores=SCORE_LISTS, ood_scores=SCORE_LISTS, transform=st.sampled_from(sorted(INCREASING_TRANSFORMS))
)
def test_metrics_invariant_under_increasing_transform(in_scores, ood_scores, transform):
    function = INCREASING_TRANSFORMS[transform]

    original = ood_metrics(in_scores, ood_scores)
    transformed = ood_metrics(function(in_scores), function(ood_scores))

    assert transformed.keys() == original.keys()
    for key, value in original.items():
        assert transformed[key] == pytest.approx(value, abs=1e-12), key


@HYPOTHESIS_SETTINGS
@given(in_scores=SCORE_LISTS, ood_scores=SCORE_LISTS)
def test_auroc_counts_ties_as_half(in_scores, ood_scores):
    """AUROC equals the Mann-Whitney pair count, so swapping the roles of the two sets gives 1 - AUROC."""
    greater = (ood_scores[:, None] > in_scores[None, :]).sum()
    ties = (ood_scores[:, None] == in_scores[None, :]).sum()
    pair_fraction = (greater + 0.5 * ties) / (in_scores.size * ood_scores.size)

    forward = auroc(in_scores, ood_scores)
    swapped = auroc(ood_scores, in_scores)

    assert forward == pytest.approx(pair_fraction, abs=1e-12)
    assert forward + swapped == pytest.approx(1.0, abs=1e-12)


@HYPOTHESIS_SETTINGS
@given(in_scores=SCORE_LISTS, ood_scores=SCORE_LISTS)
def test_aupr_in_equals_negated_swapped_aupr_out(in_scores, ood_scores):
    assert aupr(in_scores, ood_scores, positive="in") == pytest.approx(
        aupr(-ood_scores, -in_scores, positive="ood"), abs=1e-12
    )


@pytest.mark.parametrize("rule", ["closest", "first"])
def test_all_tied_scores_give_chance_metrics(rule):
    in_scores = np.full(7, 2.5)
    ood_scores = np.full(3, 2.5)

    assert auroc(in_scores, ood_scores) == 0.5
    assert aupr(in_scores, ood_scores) == pytest.approx(0.3)  # precision at the only threshold: 3 / 10
    assert fpr_at_tpr(in_scores, ood_scores, 0.95, rule=rule) == 1.0


LOGIT_MATRICES = st.tuples(st.integers(1, 6), st.integers(2, 6)).flatmap(
    lambda shape: arrays(np.float64, shape, elements=st.floats(-50, 50, allow_nan=False))
)


@HYPOTHESIS_SETTINGS
@given(logits=LOGIT_MATRICES)
def test_oe_loss_excess_is_kl(logits):
    """H(U, p) - log C = KL(U || p) >= 0, so the loss minus log C is 0 exactly at uniform softmax."""
    num_classes = logits.shape[1]

    excess = outlier_exposure_loss(torch.from_numpy(logits)).item() - math.log(num_classes)

    log_probs = log_softmax64(logits)
    kl_to_uniform = (np.log(1.0 / num_classes) - log_probs).mean(axis=-1).mean()
    assert excess == pytest.approx(kl_to_uniform, rel=1e-5, abs=1e-5)
    assert excess >= -1e-6


@HYPOTHESIS_SETTINGS
@given(
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=6),
    num_classes=st.integers(2, 8),
)
def test_oe_loss_minimal_at_uniform_logits(values, num_classes):
    """Constant logits per row give a uniform softmax: the loss is log C and its gradient is 0."""
    logits = torch.tensor(values, dtype=torch.float32)[:, None].repeat(1, num_classes).requires_grad_()

    loss = outlier_exposure_loss(logits)
    loss.backward()

    assert loss.item() == pytest.approx(math.log(num_classes), abs=1e-6)
    assert logits.grad.abs().max().item() <= 1e-7


def test_baseline_accumulation_matches_large_batch(tmp_path, word_tokenizer, labelled_dataset):
    """Without outliers, a BERT classifier (whose forward takes **kwargs) must still average micro-batches.

    Trainer treats a model whose forward takes **kwargs as normalising its loss by `num_items_in_batch`
    and then skips the division by the accumulation steps, but sequence classifiers return a plain mean.
    """

    def run(name, **overrides):
        args = sgd_args(tmp_path, name, max_steps=1, **overrides)
        trainer = OETrainer(
            model=make_tiny_bert(seed=2),
            args=args,
            train_dataset=labelled_dataset,
            processing_class=word_tokenizer,
        )
        trainer.train()
        return trainer

    large = run("large", per_device_train_batch_size=16)
    accumulated = run("accumulated", per_device_train_batch_size=4, gradient_accumulation_steps=4)

    assert large.model_accepts_loss_kwargs is False
    assert (flat_weights(large.model) - flat_weights(make_tiny_bert(seed=2))).abs().max() > 1e-2
    torch.testing.assert_close(flat_weights(accumulated.model), flat_weights(large.model), atol=1e-5, rtol=0)


def test_interrupted_save_keeps_previous_model(tmp_path, word_tokenizer, labelled_dataset, monkeypatch):
    """A save that fails half-way leaves the earlier saved files intact and no staging folder behind."""
    output_dir = tmp_path / "saved"
    trainer = OETrainer(
        model=make_tiny_bert(seed=3),
        args=sgd_args(tmp_path, "save", max_steps=1),
        train_dataset=labelled_dataset,
        processing_class=word_tokenizer,
    )
    trainer.save_model(str(output_dir))
    before = {path.name: path.read_bytes() for path in output_dir.iterdir()}

    with torch.no_grad():
        trainer.model.classifier.weight.add_(1.0)
    original = type(trainer.model).save_pretrained

    def failing_save(model, directory, **kwargs):
        original(model, directory, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(type(trainer.model), "save_pretrained", failing_save)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_model(str(output_dir))

    after = {path.name: path.read_bytes() for path in output_dir.iterdir()}
    assert "model.safetensors" in before
    assert after == before
