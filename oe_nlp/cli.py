"""The `oe-nlp` command: evaluate a saved model on an OOD suite, calibrate its threshold, score texts.

    oe-nlp evaluate runs/sst/oe --data_dir ../shared/data --output_dir runs/sst/oe-eval
    oe-nlp calibrate runs/sst/oe --dataset sst2 --split validation --data_dir ../shared/data
    oe-nlp score runs/sst/oe --input texts.txt > scores.jsonl

`oe-nlp <command> --help` describes each command.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from transformers.utils import logging

logger = logging.get_logger(__name__)

# Heavy modules (torch, transformers models, datasets) load inside the commands, so `--help` is quick.


def _add_evaluate_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="Evaluate a saved model on a task's OOD suite (results table and plots).",
        description="Evaluate a saved model folder on the OOD suite of a task with the recipes' protocol: "
        "OOD subsets of 1/5 of the in-distribution test size, resampled, metrics averaged. Writes "
        "results.json, results.md and plots/ to --output_dir, the same files the recipe writes per model. "
        "Settings default to those the recipe recorded in the model's config.json (ood_evaluation).",
    )
    parser.add_argument("model", help="Saved model folder (with config.json and the tokenizer).")
    parser.add_argument(
        "--task",
        default=None,
        help="Task whose test split and OOD suite to use, e.g. sst2. Default: recorded.",
    )
    parser.add_argument(
        "--data_dir",
        default=None,
        help="Folder with the local data files (docs/data.md). Defaults to $OE_NLP_DATA_DIR, else the Hub.",
    )
    parser.add_argument("--output_dir", required=True, help="Folder for results.json, results.md, plots/.")
    parser.add_argument(
        "--name",
        default=None,
        help="Model label in the table. Default: '+OE' for OE models, else 'MSP baseline'.",
    )
    parser.add_argument(
        "--scores", default=None, help="Comma-separated anomaly scores. Default: recorded, else msp."
    )
    parser.add_argument(
        "--num_resamples", type=int, default=None, help="OOD subsets per OOD set (default 10)."
    )
    parser.add_argument(
        "--ood_to_in_ratio", type=float, default=None, help="OOD subset size / test size (default 0.2)."
    )
    parser.add_argument("--seed", type=int, default=None, help="Resampling seed (default: recorded, else 1).")
    parser.add_argument(
        "--batch_size", type=int, default=None, help="Texts per forward pass (default: recorded, else 256)."
    )
    parser.set_defaults(handler=run_evaluate)


def _add_score_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "score",
        help="Score texts (one per line) and print JSON lines.",
        description="Classify texts and flag anomalies with a calibrated model. Reads one text per line from "
        "--input (or stdin) and writes one JSON object per non-blank line: line (1-based input line), label, "
        "probabilities, anomaly_score and is_anomaly. Blank lines are skipped.",
    )
    parser.add_argument(
        "model", help="Saved model folder with a calibrated threshold (see `oe-nlp calibrate`)."
    )
    parser.add_argument(
        "--input", default="-", help="Text file, one text per line; '-' reads stdin (default)."
    )
    parser.add_argument("--output", default="-", help="JSON lines file; '-' writes stdout (default).")
    parser.add_argument("--batch_size", type=int, default=64, help="Texts per forward pass (default 64).")
    parser.add_argument(
        "--threshold", type=float, default=None, help="Anomaly score threshold replacing the saved one."
    )
    parser.set_defaults(handler=run_score)


def _add_calibrate_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="Set the anomaly threshold from in-distribution texts and save it.",
        description="Set the detector threshold so that a share --tpr of in-distribution texts pass "
        "(anomaly score <= threshold), and save it in config.json. Texts come from --file (one per line) "
        "or from a registry split (--dataset, --split, --data_dir). Use texts the model did not train on.",
    )
    parser.add_argument("model", help="Saved model folder.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", help="In-distribution text file, one text per line (blank lines skipped).")
    source.add_argument("--dataset", help="Registry name of the in-distribution data set, e.g. sst2.")
    parser.add_argument("--split", default="validation", help="Split of --dataset (default validation).")
    parser.add_argument(
        "--data_dir", default=None, help="Local data folder for --dataset (else $OE_NLP_DATA_DIR, the Hub)."
    )
    parser.add_argument(
        "--tpr",
        type=float,
        default=0.95,
        help="Share of in-distribution texts that pass, in (0, 1) (default 0.95).",
    )
    parser.add_argument(
        "--score", default=None, help="Anomaly score to calibrate (default: the saved one, else msp)."
    )
    parser.add_argument("--batch_size", type=int, default=64, help="Texts per forward pass (default 64).")
    parser.add_argument(
        "--output_dir",
        default=None,
        help="Folder to save the calibrated model to (default: the model folder).",
    )
    parser.set_defaults(handler=run_calibrate)


def build_parser() -> argparse.ArgumentParser:
    """Build the `oe-nlp` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="oe-nlp",
        description="Deploy Outlier Exposure text classifiers: evaluate a saved model on an OOD suite, "
        "calibrate its anomaly threshold, and score texts.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="{evaluate,score,calibrate}")
    _add_evaluate_parser(subparsers)
    _add_score_parser(subparsers)
    _add_calibrate_parser(subparsers)
    return parser


# ---- evaluate ----


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a saved model folder on an OOD suite and write the recipe's per-model files."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .experiment import TASKS, ExperimentArguments, evaluate_stage, tokenize
    from .hub import DETECTOR_CONFIG_KEY, EVALUATION_CONFIG_KEY, OE_CONFIG_KEY, config_record
    from .trainer import OETrainer, OETrainingArguments

    model = AutoModelForSequenceClassification.from_pretrained(args.model)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    recorded = config_record(model.config, EVALUATION_CONFIG_KEY) or {}
    detector = config_record(model.config, DETECTOR_CONFIG_KEY) or {}

    task_name = args.task or recorded.get("task")
    if task_name not in TASKS:
        raise ValueError(
            f"Unknown or missing --task {task_name!r} (the model records none). Choose one of {sorted(TASKS)}."
        )
    experiment_args = ExperimentArguments(
        eval_scores=args.scores or ",".join(recorded.get("scores", ["msp"])),
        num_resamples=_pick(args.num_resamples, recorded, "num_resamples", 10),
        ood_to_in_ratio=_pick(args.ood_to_in_ratio, recorded, "ood_to_in_ratio", 0.2),
    )
    oe_settings = config_record(model.config, OE_CONFIG_KEY)
    name = args.name or ("+OE" if oe_settings else "MSP baseline")
    outlier_name = (oe_settings or {}).get("outlier_dataset")

    data = _load_evaluation_data(
        task_name, recorded, detector, args.data_dir, tokenizer, tokenize, TASKS, outlier_name
    )
    with tempfile.TemporaryDirectory(prefix="oe-nlp-evaluate-") as scratch:
        training_args = OETrainingArguments(
            output_dir=scratch,
            per_device_eval_batch_size=_pick(args.batch_size, recorded, "batch_size", 256),
            seed=_pick(args.seed, recorded, "seed", 1),
            energy_temperature=recorded.get("energy_temperature", 1.0),
            report_to="none",
            disable_tqdm=True,
            dataloader_pin_memory=torch.cuda.is_available(),
        )
        trainer = OETrainer(model=model, args=training_args, processing_class=tokenizer)
        report = evaluate_stage(trainer, name, data, experiment_args, Path(args.output_dir))

    for score in experiment_args.score_names:
        print(f"## {score}\n\n{report.to_markdown(score)}")
    print(f"Wrote {Path(args.output_dir) / 'results.md'}, results.json and plots/.")
    return 0


def _pick(value: Any, recorded: dict[str, Any], key: str, default: Any) -> Any:
    """Return the command-line value, else the value the recipe recorded, else the default."""
    if value is not None:
        return value
    return recorded.get(key, default)


def _load_evaluation_data(
    task_name: str,
    recorded: dict[str, Any],
    detector: dict[str, Any],
    data_dir: str | None,
    tokenizer: Any,
    tokenize: Any,
    tasks: dict[str, Any],
    outlier_name: str | None,
) -> dict[str, Any]:
    """Load and tokenize the test split and OOD suite exactly as the recipe did.

    `outlier_name`, the OE model's outlier corpus, is only recorded in the data provenance.
    """
    from .data import load_ood_suite, load_text_dataset
    from .hub import experiment_provenance

    task = tasks[task_name]
    dataset = recorded.get("dataset", task.dataset) if task_name == recorded.get("task") else task.dataset
    lowercase = detector.get("lowercase", True)
    other_lowercase = lowercase and not recorded.get("casing_cue", False)
    max_length = detector.get("max_length") or 256

    test = load_text_dataset(dataset, task.test_split, data_dir, lowercase)
    ood_sets = load_ood_suite(task.ood_suite, data_dir, other_lowercase)
    return {
        "splits": {"test": tokenize(test, tokenizer, max_length)},
        "ood": {name: tokenize(ood, tokenizer, max_length) for name, ood in ood_sets.items()},
        "provenance": experiment_provenance(dataset, task.test_split, ood_sets, outlier_name, data_dir),
    }


# ---- score ----


def _read_lines(path: str, stdin: TextIO) -> list[tuple[int, str]]:
    """Return the non-blank lines of a file (or stdin for '-') with their 1-based line numbers."""
    if path == "-":
        lines = stdin.read().splitlines()
    else:
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(
                f"Input file {source} not found. Pass a text file with one text per line."
            )
        lines = source.read_text(encoding="utf-8").splitlines()
    return [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]


def run_score(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Score texts from a file or stdin and write one JSON object per text."""
    from .detector import OODDetector

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    overrides = {} if args.threshold is None else {"threshold": args.threshold}
    detector = OODDetector.from_pretrained(args.model, **overrides)
    numbered = _read_lines(args.input, stdin)
    if not numbered:
        raise ValueError(f"No text to score in {args.input!r}: every line is blank.")

    detections = detector([text for _, text in numbered], batch_size=args.batch_size)
    records = [
        json.dumps({"line": number, **detection.to_dict()}, ensure_ascii=False)
        for (number, _), detection in zip(numbered, detections)
    ]
    text = "\n".join(records) + "\n"
    if args.output == "-":
        stdout.write(text)
    else:
        from .evaluation import write_text_atomic

        write_text_atomic(args.output, text)
    return 0


# ---- calibrate ----


def run_calibrate(args: argparse.Namespace) -> int:
    """Calibrate the detector threshold on in-distribution texts and save it with the model."""
    from .detector import OODDetector

    overrides = {} if args.score is None else {"score": args.score}
    detector = OODDetector.from_pretrained(args.model, **overrides)
    if args.file is not None:
        texts = [text for _, text in _read_lines(args.file, sys.stdin)]
        source = args.file
    else:
        from .data import load_text_dataset

        texts = load_text_dataset(args.dataset, args.split, args.data_dir, detector.lowercase)["text"]
        source = f"{args.dataset} {args.split} split"

    threshold = detector.calibrate(texts, tpr=args.tpr, batch_size=args.batch_size)
    output_dir = Path(args.output_dir or args.model)
    detector.save_pretrained(output_dir)
    print(
        f"Threshold {threshold!r} for the {detector.score} score, set so that at least {args.tpr:.2%} of "
        f"the {len(texts)} texts of {source} pass. Saved to {output_dir / 'config.json'}."
    )
    return 0


def _check_model_folder(args: argparse.Namespace) -> None:
    """Raise a clear error unless `args.model` is a saved sequence classifier folder."""
    folder = Path(args.model)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder} is not a saved model folder (no config.json there). Pass the folder a recipe wrote, "
            "e.g. runs/sst/oe."
        )

    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    from .models import RecurrentClassifierConfig

    config = AutoConfig.from_pretrained(folder)
    supported = set(MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES) | {RecurrentClassifierConfig.model_type}
    if config.model_type not in supported:
        raise ValueError(
            f"{folder} contains a {config.model_type!r} model, but oe-nlp handles text sequence classifiers only. "
            "Evaluate language models with recipes/ptb_lm_oe.py and image models with their recipe."
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run `oe-nlp` with `argv` (default: the command line) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_model_folder(args)
        return args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"oe-nlp {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
