"""Baseline-versus-OE experiments on text classification: the pipeline behind the recipes.

One experiment trains a baseline classifier, fine-tunes a copy of it with Outlier Exposure, evaluates
both on the task's OOD suite and writes `results.json`, `results.md` and plots for each, plus a
side-by-side table. Recipes only parse arguments and call `run_experiment`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    HfArgumentParser,
    PreTrainedModel,
    set_seed,
)
from transformers.utils import logging

from .data import (
    OOD_SUITES,
    check_text_columns,
    hub_requests,
    load_ood_suite,
    load_outlier_dataset,
    load_text_dataset,
    resolve_data_dir,
)
from .evaluation import OODReport, comparison_markdown, evaluate_ood_suite, write_text_atomic
from .hub import (
    DETECTOR_CONFIG_KEY,
    EVALUATION_CONFIG_KEY,
    HubPushError,
    detector_settings,
    experiment_provenance,
)
from .models import RecurrentClassifierConfig, RecurrentForSequenceClassification, build_word_tokenizer
from .scores import SCORES
from .trainer import OETrainer, OETrainingArguments

logger = logging.get_logger(__name__)


@dataclass(frozen=True)
class TaskSpec:
    """A classification task: its data set, splits, OOD suite and the published results to compare with.

    Attributes:
        dataset: Registry name of the in-distribution data set.
        train_split, eval_split, test_split: Split names; OOD metrics use `test_split`.
        ood_suite: Key of `oe_nlp.data.OOD_SUITES`.
        reference: Published suite means in percent by row label, e.g. `{"MSP": {"fpr90": 74.9, ...}}`.
        reference_source: Where `reference` comes from.
        defaults: Recipe defaults for this task that differ from the kind-of-model defaults.
    """

    dataset: str
    train_split: str
    eval_split: str | None
    test_split: str
    ood_suite: str
    reference: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    reference_source: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)


_PAPER = 'Hendrycks, Mazeika and Dietterich, "Deep Anomaly Detection with Outlier Exposure", ICLR 2019'

TASKS: dict[str, TaskSpec] = {
    "sst2": TaskSpec(
        dataset="sst2",
        train_split="train",
        eval_split="validation",
        test_split="test",
        ood_suite="sst2",
        reference={
            "MSP baseline": {"fpr90": 74.9, "auroc": 61.6, "aupr_out": 22.9},
            "+OE": {"fpr90": 27.3, "auroc": 89.3, "aupr_out": 59.4},
        },
        reference_source=_PAPER + ", Table 2 (SST, mean over 10 OOD sets)",
    ),
    "newsgroups20": TaskSpec(
        dataset="newsgroups20",
        train_split="train",
        eval_split=None,
        test_split="test",
        ood_suite="newsgroups20",
        reference={
            "MSP baseline": {"fpr90": 42.4, "auroc": 82.7, "aupr_out": 49.9},
            "+OE": {"fpr90": 4.9, "auroc": 97.7, "aupr_out": 91.9},
        },
        reference_source=_PAPER + ", Table 2 (20 Newsgroups, mean over 10 OOD sets)",
        # Hendrycks et al. cut 20 Newsgroups posts to 100 tokens.
        defaults={"max_length": 100},
    ),
    "trec": TaskSpec(
        dataset="trec",
        train_split="train",
        eval_split=None,
        test_split="test",
        ood_suite="trec",
        reference={
            "MSP baseline": {"fpr90": 43.5, "auroc": 82.1, "aupr_out": 52.2},
            "+OE": {"fpr90": 0.8, "auroc": 99.3, "aupr_out": 97.6},
        },
        reference_source=_PAPER + ", Table 2 (TREC, mean over 10 OOD sets)",
    ),
}


@dataclass
class DataArguments:
    """Data settings of an experiment."""

    task: str = field(default="sst2", metadata={"help": f"Task, one of {sorted(TASKS)}."})
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "Registry name of the in-distribution data set, to replace the task's own with a variant "
            "(e.g. newsgroups20_raw, trec_coarse). The OOD suite stays the task's."
        },
    )
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder with the local data files, laid out as docs/data.md describes. Defaults to "
            "$OE_NLP_DATA_DIR; with neither, data sets are loaded from the Hugging Face Hub."
        },
    )
    outlier_corpus: str = field(
        default="wikitext2", metadata={"help": "Registry name of the outlier corpus."}
    )
    lowercase: bool = field(
        default=True, metadata={"help": "Lower-case all text (in-distribution, outlier and OOD alike)."}
    )
    max_length: int = field(default=256, metadata={"help": "Truncate every text to this many tokens."})
    casing_cue: bool = field(
        default=False,
        metadata={
            "help": "Ablation only: keep outlier and OOD text in its original casing while in-distribution text "
            "is lower-cased, which lets a model flag OOD text by casing alone."
        },
    )

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"Unknown `task`={self.task!r}. Choose one of {sorted(TASKS)}.")
        if self.max_length <= 0:
            raise ValueError(f"`max_length` must be a positive integer, got {self.max_length}.")

    @property
    def in_dataset(self) -> str:
        """Registry name of the in-distribution data set."""
        return self.dataset or TASKS[self.task].dataset


@dataclass
class ModelArguments:
    """Model settings: a pretrained model, or the recurrent classifier of Hendrycks et al. (the default)."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Hub id or local folder of a pretrained model, loaded with AutoModelForSequenceClassification "
            "and its own tokenizer. When unset, a recurrent classifier is trained from scratch."
        },
    )
    cell: str = field(default="gru", metadata={"help": "Recurrent cell: gru or lstm."})
    vocab_size: int = field(
        default=10000, metadata={"help": "Most frequent training words kept in the vocabulary."}
    )
    embedding_dim: int = field(default=50, metadata={"help": "Word embedding size."})
    hidden_size: int = field(default=128, metadata={"help": "Recurrent hidden state size."})
    num_layers: int = field(default=2, metadata={"help": "Stacked recurrent layers."})

    def __post_init__(self) -> None:
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"Unknown `cell`={self.cell!r}. Choose 'gru' or 'lstm'.")


@dataclass
class ExperimentArguments:
    """Settings of the OE fine-tuning stage and of the OOD evaluation."""

    oe_num_train_epochs: float = field(default=2.0, metadata={"help": "Epochs of OE fine-tuning."})
    num_resamples: int = field(default=10, metadata={"help": "OOD subsets drawn per OOD set."})
    ood_to_in_ratio: float = field(
        default=0.2, metadata={"help": "OOD subset size / in-distribution test size."}
    )
    eval_scores: str = field(
        default="msp",
        metadata={"help": f"Comma-separated anomaly scores to evaluate, from {sorted(SCORES)}."},
    )

    def __post_init__(self) -> None:
        unknown = [name for name in self.score_names if name not in SCORES]
        if unknown:
            raise ValueError(f"Unknown score(s) {unknown} in `eval_scores`. Choose from {sorted(SCORES)}.")
        if self.oe_num_train_epochs <= 0:
            raise ValueError(f"`oe_num_train_epochs` must be > 0, got {self.oe_num_train_epochs}.")
        if self.num_resamples <= 0:
            raise ValueError(f"`num_resamples` must be a positive integer, got {self.num_resamples}.")
        if self.ood_to_in_ratio <= 0:
            raise ValueError(
                f"`ood_to_in_ratio` must be > 0, got {self.ood_to_in_ratio}. The protocol uses 0.2."
            )

    @property
    def score_names(self) -> list[str]:
        """Score names parsed from `eval_scores`."""
        return [name.strip() for name in self.eval_scores.split(",") if name.strip()]


# Hendrycks et al. trained the text classifiers with Adam at learning rate 0.01, batch 64, cosine
# annealing, 5 epochs for the baseline, and no weight decay. Recipes pass these to `set_defaults`.
PAPER_TRAINING_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.01,
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 256,
    "num_train_epochs": 5.0,
    "lr_scheduler_type": "cosine",
    "weight_decay": 0.0,
    "warmup_steps": 0,
    "optim": "adamw_torch",
    "save_strategy": "no",
    "report_to": "none",
    "dataloader_pin_memory": torch.cuda.is_available(),
    "logging_steps": 20,
    "seed": 1,
}


# Fine-tuning settings for a pretrained transformer: AdamW at 5e-5 with 10% warmup and linear decay,
# 1 epoch for the baseline and 1 for OE, batches grouped by length to cut padding on a CPU.
TRANSFORMER_TRAINING_DEFAULTS: dict[str, Any] = {
    **PAPER_TRAINING_DEFAULTS,
    "learning_rate": 5e-5,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 128,
    "num_train_epochs": 1.0,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0.1,
    "weight_decay": 0.01,
    "train_sampling_strategy": "group_by_length",
    "oe_num_train_epochs": 1.0,
    "max_length": 128,
}


def parse_recipe_arguments(
    task: str, argv: list[str] | None = None, **overrides: Any
) -> tuple[DataArguments, ModelArguments, OETrainingArguments, ExperimentArguments]:
    """Parse a recipe's command line with defaults for the task and for the kind of model.

    Without `--model_name_or_path` the defaults are those of Hendrycks et al. for the recurrent
    classifier (`PAPER_TRAINING_DEFAULTS`); with it, `TRANSFORMER_TRAINING_DEFAULTS`. The task's own
    `defaults` replace those, `overrides` replace both, and flags on the command line replace all.
    """
    argv = sys.argv[1:] if argv is None else argv
    pre_parser = argparse.ArgumentParser(add_help=False)
    pre_parser.add_argument("--model_name_or_path", default=None)
    pretrained = pre_parser.parse_known_args(argv)[0].model_name_or_path is not None

    parser = HfArgumentParser(
        (DataArguments, ModelArguments, ExperimentArguments, OETrainingArguments),
        description=f"Train a {task} classifier with and without Outlier Exposure and compare OOD detection. "
        "Data, model and evaluation settings come first. The Trainer settings follow, and the Outlier "
        "Exposure settings (--oe_loss, --oe_weight, --oe_batch_size, --ood_score) close the list.",
    )
    defaults = TRANSFORMER_TRAINING_DEFAULTS if pretrained else PAPER_TRAINING_DEFAULTS
    parser.set_defaults(task=task, **{**defaults, **TASKS[task].defaults, **overrides})
    data_args, model_args, experiment_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    return data_args, model_args, training_args, experiment_args


def recipe_main(task: str, argv: list[str] | None = None) -> dict[str, OODReport]:
    """Run a task's recipe: parse the command line, run the experiment and print the comparison."""
    data_args, model_args, training_args, experiment_args = parse_recipe_arguments(task, argv)
    try:
        reports = run_experiment(data_args, model_args, training_args, experiment_args)
    except HubPushError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from error
    if training_args.process_index == 0:
        print(Path(training_args.output_dir, "results.md").read_text(encoding="utf-8"))
    return reports


def planned_hub_requests(data_args: DataArguments) -> list[dict[str, Any]]:
    """List the `datasets.load_dataset` calls an experiment makes when it reads from the Hub, in order."""
    task = TASKS[data_args.task]
    splits = [task.train_split] + ([task.eval_split] if task.eval_split else []) + [task.test_split]
    requests = [hub_requests(data_args.in_dataset, split) for split in splits]
    requests.append(hub_requests(data_args.outlier_corpus, "train"))
    requests.extend(hub_requests(name, "test") for name in OOD_SUITES[task.ood_suite])
    return requests


def load_task_data(data_args: DataArguments) -> dict[str, Any]:
    """Load the task's splits, the outlier corpus and the OOD suite as text datasets."""
    task = TASKS[data_args.task]
    load = {"data_dir": data_args.data_dir, "lowercase": data_args.lowercase}
    other_load = {**load, "lowercase": data_args.lowercase and not data_args.casing_cue}
    if resolve_data_dir(data_args.data_dir) is None:
        for request in planned_hub_requests(data_args):
            logger.info("Loading from the Hugging Face Hub: %s", request)

    name = data_args.in_dataset
    splits = {"train": load_text_dataset(name, task.train_split, **load)}
    if task.eval_split:
        splits["eval"] = load_text_dataset(name, task.eval_split, **load)
    splits["test"] = load_text_dataset(name, task.test_split, **load)
    outliers = load_outlier_dataset(data_args.outlier_corpus, **other_load)
    ood_sets = load_ood_suite(task.ood_suite, **other_load)
    provenance = experiment_provenance(
        name, task.test_split, ood_sets, data_args.outlier_corpus, data_args.data_dir
    )

    logger.info(
        "Loaded %s: %s; %d outliers; OOD sets %s.",
        data_args.task,
        ", ".join(f"{name} {len(dataset)}" for name, dataset in splits.items()),
        len(outliers),
        {name: len(dataset) for name, dataset in ood_sets.items()},
    )
    return {"splits": splits, "outliers": outliers, "ood": ood_sets, "provenance": provenance}


def build_tokenizer(model_args: ModelArguments, train_texts: list[str]) -> Any:
    """Load the pretrained model's tokenizer, or build a word-level one over the training texts."""
    if model_args.model_name_or_path:
        return AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    return build_word_tokenizer(train_texts, vocab_size=model_args.vocab_size)


def prepare_data(data_args: DataArguments, model_args: ModelArguments) -> dict[str, Any]:
    """Load the task's data, build the tokenizer and tokenize every split, outlier and OOD set."""
    text = load_task_data(data_args)
    tokenizer = build_tokenizer(model_args, text["splits"]["train"]["text"])
    max_length = data_args.max_length
    return {
        "tokenizer": tokenizer,
        "splits": {
            name: tokenize(dataset, tokenizer, max_length) for name, dataset in text["splits"].items()
        },
        "outliers": tokenize(text["outliers"], tokenizer, max_length),
        "ood": {name: tokenize(dataset, tokenizer, max_length) for name, dataset in text["ood"].items()},
        "label_names": text["splits"]["train"].features["label"].names,
        "provenance": text["provenance"],
    }


def tokenize(dataset: Any, tokenizer: Any, max_length: int) -> Any:
    """Tokenize the `text` column (truncating to `max_length`) and drop it, keeping labels if present."""

    label_column = "label" if "label" in dataset.column_names else None
    check_text_columns(dataset, "text", label_column)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    return dataset.map(encode, batched=True, remove_columns=["text"], desc="Tokenizing")


def build_model(model_args: ModelArguments, tokenizer: Any, label_names: list[str]) -> PreTrainedModel:
    """Load the pretrained model with a new classification head, or build a random recurrent classifier."""
    labels = {
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }
    if model_args.model_name_or_path:
        return AutoModelForSequenceClassification.from_pretrained(
            model_args.model_name_or_path, num_labels=len(label_names), **labels
        )

    config = RecurrentClassifierConfig(
        vocab_size=len(tokenizer),
        embedding_dim=model_args.embedding_dim,
        hidden_size=model_args.hidden_size,
        num_layers=model_args.num_layers,
        cell=model_args.cell,
        num_labels=len(label_names),
        pad_token_id=tokenizer.pad_token_id,
        **labels,
    )
    return RecurrentForSequenceClassification(config)


def train_stage(
    model: Any,
    args: OETrainingArguments,
    data: dict[str, Any],
    outliers: Any = None,
    outlier_name: str | None = None,
    eval_split: str | None = "eval",
    data_collator: Any = None,
) -> tuple[OETrainer, float]:
    """Train `model` (with Outlier Exposure when `outliers` is given), save it, and return the trainer.

    `data` contains `"splits"` (with `"train"` and optionally `eval_split`) and `"tokenizer"` (None for
    images). The OE settings, with `outlier_name` as the outlier corpus, go into the saved config.json.
    The text, language-model and image recipes all train through this function.
    """
    set_seed(args.seed)
    trainer = OETrainer(
        model=model,
        args=args,
        train_dataset=data["splits"]["train"],
        eval_dataset=data["splits"].get(eval_split),
        processing_class=data.get("tokenizer"),
        data_collator=data_collator,
        outlier_dataset=outliers,
    )
    trainer.record_outlier_exposure(outlier_name)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    trainer.save_model(args.output_dir)
    return trainer, seconds


def evaluate_stage(
    trainer: OETrainer,
    name: str,
    data: dict[str, Any],
    experiment_args: ExperimentArguments,
    output_dir: Path,
) -> OODReport:
    """Evaluate a trained model on the OOD suite and write its results, table and plots."""
    report = evaluate_ood_suite(
        trainer,
        data["splits"]["test"],
        data["ood"],
        name=name,
        scores=experiment_args.score_names,
        num_resamples=experiment_args.num_resamples,
        ood_to_in_ratio=experiment_args.ood_to_in_ratio,
        seed=trainer.args.seed,
        temperature=trainer.args.energy_temperature,
    )
    if data.get("provenance"):
        report.config["data"] = data["provenance"]
    if trainer.is_world_process_zero():
        report.save_json(output_dir / "results.json")
        tables = [f"## {score}\n\n{report.to_markdown(score)}" for score in experiment_args.score_names]
        write_text_atomic(output_dir / "results.md", f"# {name}\n\n" + "\n".join(tables))
        for score in experiment_args.score_names:
            report.save_plots(output_dir / "plots", score)
    return report


def ood_score_first(ood_score: str, score_names: list[str]) -> list[str]:
    """Return `score_names` with `ood_score` moved to the front, or added there when missing."""
    return [ood_score, *(name for name in score_names if name != ood_score)]


def run_experiment(
    data_args: DataArguments,
    model_args: ModelArguments,
    training_args: OETrainingArguments,
    experiment_args: ExperimentArguments,
) -> dict[str, OODReport]:
    """Train a baseline, fine-tune it with OE, evaluate both on the OOD suite and write the comparison.

    Files written under `training_args.output_dir`: `baseline/` and `oe/` (model, tokenizer,
    `results.json`, `results.md`, `plots/`), and `results.md` / `results.json` comparing the two.
    """
    output_dir = Path(training_args.output_dir)
    task = TASKS[data_args.task]
    if training_args.push_to_hub and not training_args.hub_model_id:
        raise ValueError(
            "--push_to_hub needs --hub_model_id, the Hub repository of the OE model, e.g. "
            f"--hub_model_id your-name/{data_args.task}-oe."
        )
    # The trainer's `ood_score` is the score the detector deploys, so it is evaluated first.
    scores = ood_score_first(training_args.ood_score, experiment_args.score_names)
    experiment_args = dataclasses.replace(experiment_args, eval_scores=",".join(scores))
    data = prepare_data(data_args, model_args)

    # Models are pushed once, after evaluation, so that the card carries the OOD results.
    stage_args = dataclasses.replace(training_args, push_to_hub=False)

    # ---- Baseline: the task alone ----
    baseline_args = dataclasses.replace(stage_args, output_dir=str(output_dir / "baseline"))
    set_seed(baseline_args.seed)
    model = build_model(model_args, data["tokenizer"], data["label_names"])
    record_detector_settings(model, data_args, training_args, experiment_args)
    baseline_trainer, baseline_seconds = train_stage(model, baseline_args, data)
    # The baseline never saw the outlier corpus, so its results do not list it.
    baseline_provenance = {key: value for key, value in data["provenance"].items() if key != "outlier"}
    baseline = evaluate_stage(
        baseline_trainer,
        "MSP baseline",
        {**data, "provenance": baseline_provenance},
        experiment_args,
        output_dir / "baseline",
    )
    baseline_trainer.create_model_card(model_name=f"{data_args.task} MSP baseline", ood_report=baseline)

    # ---- Outlier Exposure: fine-tune a copy of the baseline ----
    oe_args = dataclasses.replace(
        stage_args, output_dir=str(output_dir / "oe"), num_train_epochs=experiment_args.oe_num_train_epochs
    )
    oe_model = AutoModelForSequenceClassification.from_pretrained(baseline_args.output_dir)
    oe_trainer, oe_seconds = train_stage(
        oe_model, oe_args, data, outliers=data["outliers"], outlier_name=data_args.outlier_corpus
    )
    oe_report = evaluate_stage(oe_trainer, "+OE", data, experiment_args, output_dir / "oe")
    oe_name = training_args.hub_model_id or f"{data_args.task} + Outlier Exposure"
    oe_trainer.create_model_card(model_name=oe_name, ood_report=oe_report, baseline_report=baseline)

    reports = {"baseline": baseline, "oe": oe_report}
    if oe_trainer.is_world_process_zero():
        timings = {
            "baseline_train_seconds": round(baseline_seconds, 1),
            "oe_train_seconds": round(oe_seconds, 1),
        }
        write_comparison(output_dir, reports, task, experiment_args.score_names, data_args, timings)

    if training_args.push_to_hub:
        oe_trainer.push_to_hub(
            commit_message="Upload OE model, model card and OOD results",
            model_name=oe_name,
            ood_report=oe_report,
            baseline_report=baseline,
        )
    return reports


def record_detector_settings(
    model: PreTrainedModel,
    data_args: DataArguments,
    training_args: OETrainingArguments,
    experiment_args: ExperimentArguments,
) -> None:
    """Store the detector settings and the OOD evaluation protocol in the model config.

    `oe_nlp.detector.OODDetector` reads the first (score, text preprocessing), and `oe-nlp evaluate`
    reads the second to repeat the recipe's evaluation.
    """
    score = experiment_args.score_names[0]
    temperature = training_args.energy_temperature if score == "energy" else 1.0
    setattr(
        model.config,
        DETECTOR_CONFIG_KEY,
        detector_settings(score, temperature, data_args.lowercase, data_args.max_length),
    )
    setattr(
        model.config,
        EVALUATION_CONFIG_KEY,
        {
            "task": data_args.task,
            "dataset": data_args.in_dataset,
            "ood_suite": TASKS[data_args.task].ood_suite,
            "scores": experiment_args.score_names,
            "num_resamples": experiment_args.num_resamples,
            "ood_to_in_ratio": experiment_args.ood_to_in_ratio,
            "seed": training_args.seed,
            "energy_temperature": training_args.energy_temperature,
            "batch_size": training_args.per_device_eval_batch_size,
            "casing_cue": data_args.casing_cue,
        },
    )


def write_comparison(
    output_dir: Path,
    reports: Mapping[str, OODReport],
    task: TaskSpec,
    scores: list[str],
    data_args: DataArguments,
    timings: Mapping[str, float],
) -> None:
    """Write the side-by-side table (`results.md`) and all numbers (`results.json`) of an experiment."""
    sections = [f"# {data_args.task}: baseline vs Outlier Exposure\n"]
    for score in scores:
        reference = task.reference if score == "msp" else None
        table = comparison_markdown(list(reports.values()), score, reference, reference_label="published")
        sections.append(f"## Mean over the OOD suite, score `{score}` (percent)\n\n{table}")
    if task.reference_source:
        sections.append(f"Published rows: {task.reference_source}.\n")
    write_text_atomic(output_dir / "results.md", "\n".join(sections))

    summary = {
        "task": data_args.task,
        "data": dataclasses.asdict(data_args),
        "timings": dict(timings),
        "reports": {key: report.to_dict() for key, report in reports.items()},
    }
    write_text_atomic(output_dir / "results.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")


__all__ = [
    "OOD_SUITES",
    "PAPER_TRAINING_DEFAULTS",
    "TASKS",
    "DataArguments",
    "ExperimentArguments",
    "ModelArguments",
    "TaskSpec",
    "planned_hub_requests",
    "run_experiment",
]
