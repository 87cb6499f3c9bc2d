"""Tests of the wide residual network and of Outlier Exposure training on images through OETrainer."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModelForImageClassification,
    ResNetConfig,
    ResNetForImageClassification,
)

import oe_nlp.models  # noqa: F401  (registers the WRN with the Auto classes)
from oe_nlp.data.images import (
    MNIST_MEAN,
    MNIST_STD,
    ImageTransform,
    collate_images,
    load_image_dataset,
    load_image_source,
)
from oe_nlp.models import WideResNetConfig, WideResNetForImageClassification
from oe_nlp.trainer import OETrainer, OETrainingArguments
from tests.conftest import FIXTURE_DATA

NUM_IN, NUM_OUT, OE_WEIGHT = 8, 16, 0.5


def make_wrn(seed: int = 0, **kwargs) -> WideResNetForImageClassification:
    torch.manual_seed(seed)
    config = WideResNetConfig(
        **{"depth": 10, "widen_factor": 1, "num_channels": 1, "num_labels": 10, **kwargs}
    )
    return WideResNetForImageClassification(config)


def make_tiny_resnet(seed: int = 0) -> ResNetForImageClassification:
    torch.manual_seed(seed)
    config = ResNetConfig(
        num_channels=1,
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        num_labels=10,
    )
    return ResNetForImageClassification(config)


def expected_parameter_count(depth: int, widen: int, channels: int, labels: int) -> int:
    """Count WRN parameters from the architecture: convolutions, batch-norm scales and shifts, linear layer."""
    blocks = (depth - 4) // 6
    widths = [16, 16 * widen, 32 * widen, 64 * widen]
    total = channels * 16 * 9
    in_channels = 16
    for group in range(3):
        for index in range(blocks):
            out_channels = widths[group + 1]
            total += 2 * in_channels + in_channels * out_channels * 9 + 2 * out_channels + out_channels**2 * 9
            if index == 0 and (in_channels != out_channels or group > 0):
                total += in_channels * out_channels
            in_channels = out_channels
    return total + 2 * in_channels + in_channels * labels + labels


# ---- Model ----


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": 12}, "depth must be 6n \\+ 4"),
        ({"depth": 4}, "depth must be 6n \\+ 4"),
        ({"widen_factor": 0}, "widen_factor must be a positive integer"),
        ({"dropout": 1.0}, "dropout must be a probability"),
        ({"num_channels": 2.5}, "num_channels must be a positive integer"),
    ],
)
def test_wrn_config_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WideResNetConfig(**kwargs)


def test_wrn_40_2_defaults_and_size():
    config = WideResNetConfig(num_labels=10)
    model = WideResNetForImageClassification(config)

    assert (config.depth, config.widen_factor, config.blocks_per_group) == (40, 2, 6)
    assert sum(p.numel() for p in model.parameters()) == expected_parameter_count(40, 2, 3, 10)


def test_wrn_forward_loss_is_mean_cross_entropy():
    model = make_wrn().eval()
    pixels = torch.randn(5, 1, 28, 28)
    labels = torch.tensor([0, 3, 9, 3, -100])

    output = model(pixel_values=pixels, labels=labels)

    logits = output.logits.detach().double().numpy()
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.mean([log_probs[i, label] for i, label in enumerate(labels.tolist()) if label >= 0])
    assert output.logits.shape == (5, 10)
    assert output.loss.item() == pytest.approx(expected, rel=1e-5)


def test_wrn_rejects_wrong_channels():
    with pytest.raises(ValueError, match=r"pixel_values must have shape \(N, 1, H, W\)"):
        make_wrn()(pixel_values=torch.zeros(2, 3, 28, 28))


def test_wrn_save_load_round_trip(tmp_path):
    model = make_wrn(dropout=0.3, id2label={i: f"digit {i}" for i in range(10)}).eval()
    pixels = torch.randn(3, 1, 28, 28)
    model.save_pretrained(tmp_path)

    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()

    assert type(loaded) is WideResNetForImageClassification
    assert AutoConfig.from_pretrained(tmp_path).model_type == "oe_wide_resnet"
    assert loaded.config.num_labels == 10
    assert loaded.config.id2label[3] == "digit 3"
    torch.testing.assert_close(loaded(pixel_values=pixels).logits, model(pixel_values=pixels).logits)


# ---- OE training ----


@pytest.fixture(scope="module")
def image_data():
    """Eight labelled MNIST digits and sixteen notMNIST outliers, scaled and normalised without augmentation."""
    transform = ImageTransform(MNIST_MEAN, MNIST_STD)
    train = load_image_dataset("mnist", "test", data_dir=FIXTURE_DATA).select(range(NUM_IN))
    outliers = load_image_source("notmnist", data_dir=FIXTURE_DATA).select(range(NUM_OUT))
    in_pixels = transform({"pixel_values": np.asarray(train["pixel_values"])})["pixel_values"]
    out_pixels = transform({"pixel_values": np.asarray(outliers["pixel_values"])})["pixel_values"]
    return {
        "train": train.with_transform(transform),
        "outliers": outliers.with_transform(transform),
        "in_pixels": in_pixels,
        "out_pixels": out_pixels,
        "labels": torch.tensor(train["label"]),
    }


class RecordingTrainer(OETrainer):
    """OETrainer that keeps the loss of every training step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.step_losses: list[torch.Tensor] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if model.training:
            self.step_losses.append(loss.detach().clone())
        return loss


def oe_trainer(model, image_data, tmp_path, max_steps: int = 1) -> RecordingTrainer:
    args = OETrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=NUM_IN,
        oe_batch_size=NUM_OUT,
        oe_weight=OE_WEIGHT,
        learning_rate=0.05,
        optim="sgd",
        max_steps=max_steps,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    return RecordingTrainer(
        model=model,
        args=args,
        train_dataset=image_data["train"],
        data_collator=collate_images,
        outlier_dataset=image_data["outliers"],
    )


def hand_oe_loss(model: torch.nn.Module, image_data: dict) -> float:
    """Compute CE on the in-distribution rows plus OE_WEIGHT times the uniform CE on the outliers, in float64."""
    reference = copy.deepcopy(model).double().train()
    pixels = torch.cat([image_data["in_pixels"], image_data["out_pixels"]]).double()
    with torch.no_grad():
        logits = reference(pixel_values=pixels).logits
    cross_entropy = F.cross_entropy(logits[:NUM_IN], image_data["labels"])
    uniform = -F.log_softmax(logits[NUM_IN:], dim=-1).mean(dim=-1).mean()
    return float(cross_entropy + OE_WEIGHT * uniform)


@pytest.mark.parametrize("build", [make_wrn, make_tiny_resnet], ids=["wide_resnet", "hf_resnet"])
def test_oe_step_loss_matches_hand_computation(build, image_data, tmp_path):
    model = build()
    expected = hand_oe_loss(model, image_data)
    before = {name: value.detach().clone() for name, value in model.named_parameters()}

    trainer = oe_trainer(model, image_data, tmp_path, max_steps=3)
    trainer.train()

    assert len(trainer.step_losses) == 3
    assert trainer.step_losses[0].item() == pytest.approx(expected, rel=1e-5)
    changed = [
        name for name, value in model.named_parameters() if not torch.equal(value.detach(), before[name])
    ]
    assert len(changed) == len(before)


def test_batch_norm_sees_concatenated_batch(image_data, tmp_path):
    model = make_wrn()
    stem = copy.deepcopy(model.stem).double()
    norm = model.blocks[0].bn1
    pixels = torch.cat([image_data["in_pixels"], image_data["out_pixels"]]).double()
    with torch.no_grad():
        features = stem(pixels)  # (NUM_IN + NUM_OUT, 16, 28, 28)
        in_only = stem(pixels[:NUM_IN])
    # BatchNorm's running mean starts at 0 and moves by momentum 0.1 towards the batch mean.
    expected = 0.1 * features.mean(dim=(0, 2, 3))
    in_only_expected = 0.1 * in_only.mean(dim=(0, 2, 3))

    oe_trainer(model, image_data, tmp_path, max_steps=1).train()

    running_mean = norm.running_mean.double()
    torch.testing.assert_close(running_mean, expected, rtol=1e-5, atol=1e-6)
    assert (running_mean - in_only_expected).abs().max().item() > 1e-3
    assert norm.num_batches_tracked.item() == 1


def test_oe_trainer_rejects_labelled_outliers(image_data, tmp_path):
    labelled = load_image_dataset("notmnist", "test", data_dir=FIXTURE_DATA)

    with pytest.raises(ValueError, match="label column"):
        OETrainer(
            model=make_wrn(),
            args=OETrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True),
            train_dataset=image_data["train"],
            data_collator=collate_images,
            outlier_dataset=labelled,
        )
