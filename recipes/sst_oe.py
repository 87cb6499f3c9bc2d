"""Train an SST-2 sentiment classifier with and without Outlier Exposure and compare OOD detection.

Run on local data (the layout of shared/data) or, without --data_dir, from the Hugging Face Hub:

    accelerate launch recipes/sst_oe.py --data_dir ../shared/data --output_dir runs/sst

Defaults follow Hendrycks et al. (ICLR 2019): a 2-layer GRU, 5 baseline epochs at batch 64, then 2
epochs of OE fine-tuning with 64 WikiText-2 outlier sentences per batch and weight 1.0. Every setting
is a flag (`--help` lists them).
"""

import sys
from pathlib import Path

from transformers import HfArgumentParser

from oe_nlp.experiment import (
    PAPER_TRAINING_DEFAULTS,
    DataArguments,
    ExperimentArguments,
    ModelArguments,
    run_experiment,
)
from oe_nlp.trainer import OETrainingArguments


def main(argv: list[str] | None = None) -> None:
    parser = HfArgumentParser((DataArguments, ModelArguments, OETrainingArguments, ExperimentArguments))
    parser.set_defaults(task="sst2", oe_batch_size=64, oe_weight=1.0, **PAPER_TRAINING_DEFAULTS)
    data_args, model_args, training_args, experiment_args = parser.parse_args_into_dataclasses(
        args=sys.argv[1:] if argv is None else argv
    )
    reports = run_experiment(data_args, model_args, training_args, experiment_args)
    if training_args.process_index == 0:
        print(Path(training_args.output_dir, "results.md").read_text(encoding="utf-8"))
    return reports


if __name__ == "__main__":
    main()
