"""Check whether a word-level PTB language model flags text for its share of `<unk>` alone.

PTB test windows are copied with a share of their tokens (`<eos>` excepted) replaced by `<unk>` at
random. The copies hold PTB's own wording, so a detector of unlike text should score them like the
originals (AUROC near 50), while a detector of `<unk>` density flags them. Compare a baseline and an
OE model (docs/experiments.md):

    OMP_NUM_THREADS=1 python benchmarks/lm_unk_control.py --data_dir ../shared/data \\
        --models runs/ptb_word/baseline runs/ptb_word/oe
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling

from oe_nlp.data.lm import load_lm_datasets
from oe_nlp.metrics import auroc
from oe_nlp.scores import LM_SEQUENCE_SCORES
from oe_nlp.trainer import OETrainer, OETrainingArguments


def with_unk(dataset: Dataset, share: float, unk_id: int, eos_id: int, seed: int) -> Dataset:
    """Replace `share` of each window's tokens other than `<eos>` by `<unk>`, with a seeded generator."""
    generator = np.random.default_rng(seed)
    windows = []
    for window in dataset["input_ids"]:
        ids = np.asarray(window)
        replace = (generator.random(len(ids)) < share) & (ids != eos_id)
        windows.append(np.where(replace, unk_id, ids).tolist())

    return Dataset.from_dict({"input_ids": windows, "attention_mask": dataset["attention_mask"]})


def scoring_trainer(model_path: str, output_dir: str) -> OETrainer:
    """Load the causal LM saved at `model_path` into a trainer that only predicts."""
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    args = OETrainingArguments(
        output_dir=output_dir, per_device_eval_batch_size=64, report_to="none", dataloader_pin_memory=False
    )
    trainer = OETrainer(
        model=AutoModelForCausalLM.from_pretrained(model_path),
        args=args,
        processing_class=tokenizer,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
    )
    return trainer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default=None, help="Folder in the layout of shared/data.")
    parser.add_argument("--models", nargs="+", required=True, help="Word-level PTB language model folders.")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.1, 0.2, 0.3], help="Shares of <unk>.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the token replacement.")
    arguments = parser.parse_args(argv)

    splits, tokenizer = load_lm_datasets(arguments.data_dir, "word")
    test = splits["test"]
    print(
        "| Model | `<unk>` share added | " + " | ".join(f"AUROC {name}" for name in LM_SEQUENCE_SCORES) + " |"
    )
    print("|---" * (len(LM_SEQUENCE_SCORES) + 2) + "|")

    with tempfile.TemporaryDirectory() as output_dir:
        for model_path in arguments.models:
            trainer = scoring_trainer(model_path, output_dir)
            clean = trainer.predict_sequence_scores(test, description=f"{model_path}: PTB test")
            for share in arguments.shares:
                copies = with_unk(test, share, tokenizer.unk_token_id, tokenizer.eos_token_id, arguments.seed)
                corrupted = trainer.predict_sequence_scores(
                    copies, description=f"{model_path}: {share:.0%} <unk>"
                )
                cells = [f"{100 * auroc(clean[name], corrupted[name]):.1f}" for name in LM_SEQUENCE_SCORES]
                print(f"| {model_path} | {share:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
