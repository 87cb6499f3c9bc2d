"""Baseline-versus-OE experiments on image classification: the pipeline behind the vision recipes.

As for text (`oe_nlp.experiment`), one experiment trains a baseline classifier and fine-tunes a copy
of it with Outlier Exposure. Both are evaluated on the task's OOD suite with the resampling protocol of
`oe_nlp.evaluation`, and each gets `results.json`, `results.md` and plots, plus a comparison of the two.
Images pass through the same `OETrainer`: in-distribution and outlier images are concatenated into one
forward pass, so the batch norm statistics cover both. FPR95 is the headline metric for images, as in Hendrycks,
Mazeika and Dietterich, "Deep Anomaly Detection with Outlier Exposure" (ICLR 2019), Table 1.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shlex
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForImageClassification, HfArgumentParser, PreTrainedModel, set_seed
from transformers.utils import logging

from .data.images import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGE_REGISTRY,
    MNIST_MEAN,
    MNIST_STD,
    PIXEL_COLUMN,
    SYNTHETIC_KINDS,
    ImageTransform,
    collate_images,
    image_hub_request,
    load_image_dataset,
    load_image_source,
    synthetic_ood_dataset,
)
from .data.loading import resolve_data_dir
from .evaluation import OODReport, write_markdown_section, write_text_atomic
from .experiment import ExperimentArguments, TaskSpec, evaluate_stage, train_stage, write_comparison
from .models import WideResNetConfig, WideResNetForImageClassification
from .trainer import OETrainer, OETrainingArguments

logger = logging.get_logger(__name__)


@dataclass(frozen=True)
class VisionTaskSpec:
    """An image classification task: data, image shape, normalisation, outliers and OOD suite.

    Attributes:
        dataset: Registry name (`oe_nlp.data.images.IMAGE_REGISTRY`) of the in-distribution set.
        train_split, test_split: Split names. When they are equal, that split is divided (seeded and
            stratified) into train and test parts by `VisionDataArguments.test_fraction`.
        image_shape: (channels, height, width) every image is converted to.
        mean, std: Per-channel normalisation constants for pixels in [0, 1].
        outliers: Default outlier source (registry name, local path or Hub id), or None to require one.
        ood_sets: Registry names of the real OOD test sets.
        synthetic_sets: Kinds of synthetic noise OOD sets (`SYNTHETIC_KINDS`).
        augment: Whether training images (in-distribution and outliers) get random crops and flips.
        reference, reference_source: Published suite means in percent, and where they come from.
    """

    dataset: str
    train_split: str
    test_split: str
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    outliers: str | None
    ood_sets: tuple[str, ...]
    synthetic_sets: tuple[str, ...]
    augment: bool
    reference: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    reference_source: str = ""


VISION_TASKS: dict[str, VisionTaskSpec] = {
    # MNIST here is the 10,000 official test digits split into train and test, because the data
    # folder contains no MNIST training file. Hendrycks et al. used Places365 and Icons-50 besides these.
    "mnist": VisionTaskSpec(
        dataset="mnist",
        train_split="test",
        test_split="test",
        image_shape=(1, 28, 28),
        mean=MNIST_MEAN,
        std=MNIST_STD,
        outliers="notmnist",
        ood_sets=("fashion_mnist", "cifar10"),
        synthetic_sets=("gaussian", "bernoulli", "blobs"),
        augment=False,
    ),
    # The CIFAR-10 setting of Hendrycks et al., Table 1: WRN-40-2, 300K Random Images or 80 Million Tiny
    # Images as outliers (not on the Hub, so --outlier_dataset must name them), and this OOD suite.
    "cifar10": VisionTaskSpec(
        dataset="cifar10",
        train_split="train",
        test_split="test",
        image_shape=(3, 32, 32),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        outliers=None,
        ood_sets=("svhn", "textures", "places365", "lsun", "cifar100"),
        synthetic_sets=("gaussian", "rademacher", "blobs"),
        augment=True,
    ),
}


@dataclass
class VisionDataArguments:
    """Data settings of an image experiment."""

    task: str = field(default="mnist", metadata={"help": f"Task, one of {sorted(VISION_TASKS)}."})
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder with the local data files (it contains `vision/`). Defaults to $OE_NLP_DATA_DIR; "
            "with neither, data sets are loaded from the Hugging Face Hub."
        },
    )
    outlier_dataset: str | None = field(
        default=None,
        metadata={
            "help": "Outlier images: a registry name, a local folder of images, an .npz file with an `images` "
            "array, an idx file, or a Hub dataset id (its train split). Defaults to the task's."
        },
    )
    ood_sets: str | None = field(
        default=None, metadata={"help": "Comma-separated registry names of OOD sets. Defaults to the task's."}
    )
    synthetic_sets: str | None = field(
        default=None,
        metadata={
            "help": f"Comma-separated synthetic OOD kinds from {list(SYNTHETIC_KINDS)}; 'none' for none."
        },
    )
    num_synthetic: int = field(default=2000, metadata={"help": "Images per synthetic OOD set."})
    test_fraction: float = field(
        default=0.2,
        metadata={"help": "Share of the split held out as the test set when the task splits one."},
    )
    split_seed: int = field(default=0, metadata={"help": "Seed of that train/test split."})
    augment: bool | None = field(
        default=None,
        metadata={"help": "Random crop (4 px padding) and flip in training. Defaults to the task's."},
    )

    def __post_init__(self) -> None:
        if self.task not in VISION_TASKS:
            raise ValueError(f"Unknown `task`={self.task!r}. Choose one of {sorted(VISION_TASKS)}.")
        unknown_sets = [name for name in self.ood_set_names if name not in IMAGE_REGISTRY]
        if unknown_sets:
            raise ValueError(f"Unknown OOD set(s) {unknown_sets}. Choose from {sorted(IMAGE_REGISTRY)}.")
        unknown_kinds = [name for name in self.synthetic_names if name not in SYNTHETIC_KINDS]
        if unknown_kinds:
            raise ValueError(
                f"Unknown synthetic set(s) {unknown_kinds}. Choose from {list(SYNTHETIC_KINDS)}."
            )
        if self.num_synthetic <= 0:
            raise ValueError(f"`num_synthetic` must be a positive integer, got {self.num_synthetic}.")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"`test_fraction` must be in (0, 1), got {self.test_fraction}.")

    @property
    def spec(self) -> VisionTaskSpec:
        """The task's `VisionTaskSpec`."""
        return VISION_TASKS[self.task]

    @property
    def ood_set_names(self) -> list[str]:
        """OOD set names from `ood_sets`, else the task's."""
        if self.ood_sets is None:
            return list(self.spec.ood_sets)
        return [name.strip() for name in self.ood_sets.split(",") if name.strip()]

    @property
    def synthetic_names(self) -> list[str]:
        """Synthetic OOD kinds from `synthetic_sets`, else the task's."""
        if self.synthetic_sets is None:
            return list(self.spec.synthetic_sets)
        if self.synthetic_sets.strip().lower() == "none":
            return []
        return [name.strip() for name in self.synthetic_sets.split(",") if name.strip()]

    @property
    def outlier_source(self) -> str:
        """The outlier source: `outlier_dataset`, else the task's default."""
        source = self.outlier_dataset or self.spec.outliers
        if source is None:
            raise ValueError(
                f"Task {self.task!r} has no default outlier set. Pass --outlier_dataset with a local folder of "
                "images, an .npz file with an `images` array, or a Hub dataset id (e.g. a copy of the 300K "
                "Random Images of Hendrycks et al.)."
            )
        return source


@dataclass
class VisionModelArguments:
    """Model settings: a pretrained image classifier, or a wide residual network from scratch."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Hub id or local folder of an image classifier, loaded with AutoModelForImageClassification. "
            "When unset, a WideResNetForImageClassification is trained from scratch."
        },
    )
    depth: int = field(default=40, metadata={"help": "WRN depth, 6n + 4."})
    widen_factor: int = field(default=2, metadata={"help": "WRN widen factor k."})
    dropout: float = field(default=0.3, metadata={"help": "WRN dropout inside each block."})


@dataclass
class VisionExperimentArguments(ExperimentArguments):
    """OE stage and evaluation settings, plus the OE learning rate and the results page."""

    oe_learning_rate: float = field(
        default=0.001, metadata={"help": "Initial learning rate of the OE fine-tuning stage."}
    )
    results_page: str | None = field(
        default=None,
        metadata={"help": "Markdown page (e.g. docs/results.md) whose section vision_<task> is rewritten."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.oe_learning_rate <= 0:
            raise ValueError(f"`oe_learning_rate` must be > 0, got {self.oe_learning_rate}.")


# Hendrycks et al. trained the WRN with SGD (Nesterov momentum 0.9) at learning rate 0.1, batch 128,
# weight decay 5e-4 and cosine annealing, then fine-tuned with OE at learning rate 0.001 for 10 epochs,
# with 256 outlier images per batch and weight 0.5.
VISION_TRAINING_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.1,
    "optim": "sgd",
    "optim_args": "momentum=0.9,nesterov=True",
    "weight_decay": 5e-4,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0,
    "per_device_train_batch_size": 128,
    "per_device_eval_batch_size": 512,
    "num_train_epochs": 100.0,
    "oe_num_train_epochs": 10.0,
    "oe_weight": 0.5,
    "oe_batch_size": 256,
    "save_strategy": "no",
    "report_to": "none",
    "logging_steps": 20,
    "dataloader_num_workers": 0,
    "dataloader_pin_memory": torch.cuda.is_available(),
    "seed": 1,
}


def parse_vision_arguments(
    task: str, argv: list[str] | None = None, **overrides: Any
) -> tuple[VisionDataArguments, VisionModelArguments, OETrainingArguments, VisionExperimentArguments]:
    """Parse a vision recipe's command line: `VISION_TRAINING_DEFAULTS`, then `overrides`, then the flags."""
    argv = sys.argv[1:] if argv is None else argv
    parser = HfArgumentParser(
        (VisionDataArguments, VisionModelArguments, VisionExperimentArguments, OETrainingArguments),
        description=f"Train a {task} image classifier with and without Outlier Exposure and compare OOD "
        "detection. Data, model and evaluation settings come first, then the Trainer and OE settings.",
    )
    parser.set_defaults(task=task, **{**VISION_TRAINING_DEFAULTS, **overrides})
    data_args, model_args, experiment_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    return data_args, model_args, training_args, experiment_args


# ---- Data ----


def planned_vision_hub_requests(data_args: VisionDataArguments) -> list[dict[str, Any]]:
    """List the `datasets.load_dataset` calls `prepare_vision_data` makes without a data directory."""
    spec = data_args.spec
    splits = (
        [spec.train_split] if spec.train_split == spec.test_split else [spec.train_split, spec.test_split]
    )
    requests = [image_hub_request(spec.dataset, split) for split in splits]

    source = data_args.outlier_source
    if source in IMAGE_REGISTRY:
        requests.append(image_hub_request(source, "test"))
    elif not Path(source).expanduser().exists():
        requests.append({"path": source, "name": None, "split": "train", "revision": None})

    requests.extend(image_hub_request(name, "test") for name in data_args.ood_set_names)
    return requests


def load_vision_data(data_args: VisionDataArguments) -> dict[str, Any]:
    """Load the in-distribution splits, the outliers and the OOD sets as uint8 image datasets."""
    spec = data_args.spec
    channels, height, width = spec.image_shape
    load = {"data_dir": data_args.data_dir, "num_channels": channels, "size": (height, width)}
    if resolve_data_dir(data_args.data_dir) is None:
        for request in planned_vision_hub_requests(data_args):
            logger.info("Loading from the Hugging Face Hub: %s", request)

    if spec.train_split == spec.test_split:
        whole = load_image_dataset(spec.dataset, spec.train_split, **load)
        parts = whole.train_test_split(
            test_size=data_args.test_fraction, seed=data_args.split_seed, stratify_by_column="label"
        )
        splits = {"train": parts["train"], "test": parts["test"]}
    else:
        splits = {
            "train": load_image_dataset(spec.dataset, spec.train_split, **load),
            "test": load_image_dataset(spec.dataset, spec.test_split, **load),
        }

    outliers = load_image_source(data_args.outlier_source, split="test", **load)
    ood = {}
    for name in data_args.ood_set_names:
        dataset = load_image_dataset(name, "test", **load)
        ood[_ood_key(name, spec)] = dataset.select_columns([PIXEL_COLUMN])
    for index, kind in enumerate(data_args.synthetic_names):
        seed = data_args.split_seed + 1000 * (index + 1)
        ood[kind] = synthetic_ood_dataset(kind, data_args.num_synthetic, spec.image_shape, seed=seed)

    logger.info(
        "Loaded %s: train %d, test %d; %d outliers; OOD sets %s.",
        data_args.task,
        len(splits["train"]),
        len(splits["test"]),
        len(outliers),
        {name: len(dataset) for name, dataset in ood.items()},
    )
    return {"splits": splits, "outliers": outliers, "ood": ood}


def _ood_key(name: str, spec: VisionTaskSpec) -> str:
    """Name an OOD set, marking colour sets converted to grey for a grey task (e.g. `cifar10_grey`)."""
    if spec.image_shape[0] == 1 and name in ("cifar10", "cifar100", "svhn", "textures", "places365", "lsun"):
        return f"{name}_grey"
    return name


def prepare_vision_data(data_args: VisionDataArguments, seed: int = 0) -> dict[str, Any]:
    """Load the task's images and set their transforms: augmentation for training rows, plain scaling else.

    Returns:
        `{"splits": {"train", "test"}, "outliers", "ood": {name: dataset}, "label_names", "tokenizer": None}`,
        every dataset with an `ImageTransform` set. `evaluate_stage` of `oe_nlp.experiment` takes it as is.
    """
    spec = data_args.spec
    raw = load_vision_data(data_args)
    augment = spec.augment if data_args.augment is None else data_args.augment
    padding = 4 if augment else 0

    def train_transform(offset: int) -> ImageTransform:
        return ImageTransform(spec.mean, spec.std, crop_padding=padding, flip=augment, seed=seed + offset)

    plain = ImageTransform(spec.mean, spec.std)
    return {
        "splits": {
            "train": raw["splits"]["train"].with_transform(train_transform(0)),
            "test": raw["splits"]["test"].with_transform(plain),
        },
        "outliers": raw["outliers"].with_transform(train_transform(1)),
        "ood": {name: dataset.with_transform(plain) for name, dataset in raw["ood"].items()},
        "label_names": raw["splits"]["train"].features["label"].names,
        "tokenizer": None,
    }


# ---- Model and training ----


def build_vision_model(
    model_args: VisionModelArguments, label_names: list[str], num_channels: int
) -> PreTrainedModel:
    """Load the pretrained image classifier with a new head, or build a random wide residual network."""
    labels = {
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }
    if model_args.model_name_or_path:
        return AutoModelForImageClassification.from_pretrained(
            model_args.model_name_or_path, num_labels=len(label_names), ignore_mismatched_sizes=True, **labels
        )
    config = WideResNetConfig(
        depth=model_args.depth,
        widen_factor=model_args.widen_factor,
        dropout=model_args.dropout,
        num_channels=num_channels,
        num_labels=len(label_names),
        **labels,
    )
    return WideResNetForImageClassification(config)


def train_vision_stage(
    model: Any, args: OETrainingArguments, data: dict[str, Any], outliers: Any = None
) -> tuple[OETrainer, float]:
    """Train `model` on images (with Outlier Exposure when `outliers` is given), save it, return the trainer."""
    return train_stage(model, args, data, outliers, eval_split=None, data_collator=collate_images)


def run_vision_experiment(
    data_args: VisionDataArguments,
    model_args: VisionModelArguments,
    training_args: OETrainingArguments,
    experiment_args: VisionExperimentArguments,
    command: list[str] | None = None,
) -> dict[str, OODReport]:
    """Train a baseline image classifier, fine-tune a copy with OE, evaluate both and write the comparison.

    Files written under `training_args.output_dir`: `baseline/` and `oe/` (model, `results.json`,
    `results.md`, `plots/`), and `results.md` / `results.json` comparing the two. With
    `experiment_args.results_page`, its section `vision_<task>` is rewritten too, quoting `command`
    (the script and its arguments; `sys.argv` when None).
    """
    start = time.perf_counter()
    output_dir = Path(training_args.output_dir)
    # NOTE: model cards and pushes exist for the text classification recipes only.
    if training_args.push_to_hub:
        raise ValueError(
            "--push_to_hub is not supported by the image recipes yet. Train without it, then upload the model "
            f"folder, e.g. `hf upload <your-name>/<repo> {output_dir / 'oe'}`."
        )
    spec = data_args.spec
    data = prepare_vision_data(data_args, seed=training_args.seed)

    # ---- Baseline: the task alone ----
    baseline_args = dataclasses.replace(training_args, output_dir=str(output_dir / "baseline"))
    set_seed(baseline_args.seed)
    model = build_vision_model(model_args, data["label_names"], spec.image_shape[0])
    baseline_trainer, baseline_seconds = train_vision_stage(model, baseline_args, data)
    baseline = evaluate_stage(
        baseline_trainer, "MSP baseline", data, experiment_args, output_dir / "baseline"
    )

    # ---- Outlier Exposure: fine-tune a copy of the baseline ----
    oe_args = dataclasses.replace(
        training_args,
        output_dir=str(output_dir / "oe"),
        num_train_epochs=experiment_args.oe_num_train_epochs,
        learning_rate=experiment_args.oe_learning_rate,
    )
    oe_model = AutoModelForImageClassification.from_pretrained(baseline_args.output_dir)
    oe_trainer, oe_seconds = train_vision_stage(oe_model, oe_args, data, outliers=data["outliers"])
    oe_report = evaluate_stage(oe_trainer, "+OE", data, experiment_args, output_dir / "oe")

    reports = {"baseline": baseline, "oe": oe_report}
    if oe_trainer.is_world_process_zero():
        timings = {
            "baseline_train_seconds": round(baseline_seconds, 1),
            "oe_train_seconds": round(oe_seconds, 1),
            "total_seconds": round(time.perf_counter() - start, 1),
        }
        write_vision_comparison(output_dir, reports, data_args, experiment_args.score_names, timings)
        if experiment_args.results_page:
            text = results_section(data_args, training_args, reports, timings, command or sys.argv)
            write_markdown_section(experiment_args.results_page, f"vision_{data_args.task}", text)
    return reports


# ---- Results ----

_VISION_METRICS = (("fpr95", "FPR95"), ("auroc", "AUROC"), ("aupr_out", "AUPR"))


def per_set_comparison_markdown(baseline: OODReport, oe: OODReport, score: str = "msp") -> str:
    """Format baseline and OE metrics per OOD set and their mean, FPR95 first, in percent."""
    header = ["OOD set"] + [
        f"{title} {model}" for _, title in _VISION_METRICS for model in ("baseline", "OE")
    ]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for ood_set in baseline.metrics[score]:
        label = "**Mean**" if ood_set == "mean" else ood_set
        cells = [
            f"{100 * report.metrics[score][ood_set][key]['mean']:.1f}"
            for key, _ in _VISION_METRICS
            for report in (baseline, oe)
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_vision_comparison(
    output_dir: Path,
    reports: Mapping[str, OODReport],
    data_args: VisionDataArguments,
    scores: list[str],
    timings: Mapping[str, float],
) -> None:
    """Write the experiment's `results.md` (suite means, then per-set tables) and `results.json`."""
    spec = data_args.spec
    task = TaskSpec(
        dataset=spec.dataset,
        train_split=spec.train_split,
        eval_split=None,
        test_split=spec.test_split,
        ood_suite=data_args.task,
        reference=spec.reference,
        reference_source=spec.reference_source,
    )
    write_comparison(output_dir, reports, task, scores, data_args, timings)

    tables = [
        f"## Per OOD set, score `{score}` (percent)\n\n"
        + per_set_comparison_markdown(reports["baseline"], reports["oe"], score)
        for score in scores
    ]
    page = output_dir / "results.md"
    write_text_atomic(page, page.read_text(encoding="utf-8") + "\n" + "\n".join(tables))


def hardware_description() -> str:
    """Describe the CPU, the torch thread count and any GPU, for results pages."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} with "
        f"{torch.get_num_threads()} thread(s) (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), {gpu}"
    )


def results_section(
    data_args: VisionDataArguments,
    training_args: OETrainingArguments,
    reports: Mapping[str, OODReport],
    timings: Mapping[str, float],
    argv: list[str],
) -> str:
    """Build the results-page section of an image experiment: command, hardware, time and tables."""
    baseline, oe = reports["baseline"], reports["oe"]
    command = " ".join(shlex.quote(part) for part in argv)
    threads = os.environ.get("OMP_NUM_THREADS", "")
    wall_time = (
        f"Wall time: {timings['total_seconds']:.0f} s for loading, training and evaluation (baseline training "
        f"{timings['baseline_train_seconds']:.0f} s, OE fine-tuning {timings['oe_train_seconds']:.0f} s)."
    )
    setting = (
        f"In-distribution: {data_args.task}, {baseline.config.get('num_in')} test images. Outliers: "
        f"{data_args.outlier_source}, weight {training_args.oe_weight}. OOD sets and sizes: "
        f"{baseline.config.get('ood_set_sizes', {})}. Score: MSP. Metrics are in percent, each the mean of "
        f"{baseline.config.get('num_resamples')} resamples of {baseline.config.get('ood_to_in_ratio')} OOD "
        "images per in-distribution test image."
    )
    accuracy = (
        f"Test accuracy: baseline {100 * (baseline.in_accuracy or 0.0):.1f}%, "
        f"OE {100 * (oe.in_accuracy or 0.0):.1f}%."
    )
    lines = [
        f"## Images: {data_args.task} with Outlier Exposure",
        f"Command: `OMP_NUM_THREADS={threads} python {command}`",
        f"Hardware: {hardware_description()}.",
        wall_time,
        setting,
        accuracy,
        per_set_comparison_markdown(baseline, oe, "msp"),
    ]
    return "\n\n".join(lines)


def vision_recipe_main(task: str, argv: list[str] | None = None, **overrides: Any) -> dict[str, OODReport]:
    """Run a vision recipe: parse the command line (defaults replaced by `overrides`), run and print."""
    data_args, model_args, training_args, experiment_args = parse_vision_arguments(task, argv, **overrides)
    command = None if argv is None else [f"recipes/{task}_oe.py", *argv]
    reports = run_vision_experiment(data_args, model_args, training_args, experiment_args, command)
    if training_args.process_index == 0:
        print(Path(training_args.output_dir, "results.md").read_text(encoding="utf-8"))
    return reports


__all__ = [
    "VISION_TASKS",
    "VISION_TRAINING_DEFAULTS",
    "VisionDataArguments",
    "VisionExperimentArguments",
    "VisionModelArguments",
    "VisionTaskSpec",
    "build_vision_model",
    "parse_vision_arguments",
    "planned_vision_hub_requests",
    "prepare_vision_data",
    "run_vision_experiment",
    "vision_recipe_main",
]
