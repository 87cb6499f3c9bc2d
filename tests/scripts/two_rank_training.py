"""Train a tiny BERT with Outlier Exposure and save the final weights and logged losses.

Run it under `torchrun --nproc_per_node 2` (gloo on CPU) or as one process. `tests/test_reliability.py`
compares both runs at the same global batch size. The repository root must be on `PYTHONPATH`.

Usage:
    torchrun --nproc_per_node 2 tests/scripts/two_rank_training.py OUTPUT_DIR --batch-size 4 \
        --oe-batch-size 2 --oe-losses uniform_ce energy

Rank 0 writes `OUTPUT_DIR/result.json`, which maps each loss name to the output of `train`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from oe_nlp.trainer import OETrainer, OETrainingArguments
from tests.conftest import WORDS, make_tiny_bert

IN_TEXTS = ["good movie", "bad film", "great movie the", "awful film a", "good", "the bad movie"] * 4
IN_LABELS = [1, 0, 1, 0, 1, 0] * 4
OUTLIER_TEXTS = ["the river", "a city king", "river city", "king the river a", "city", "the king", "a river"]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Build the word-level tokenizer over the test vocabulary."""
    vocab = {word: index for index, word in enumerate(WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>")


def build_datasets(tokenizer: PreTrainedTokenizerFast) -> tuple[Dataset, Dataset]:
    """Tokenize the 24 labelled in-distribution texts and the 7 outlier texts."""
    encoded = tokenizer(IN_TEXTS)
    train = Dataset.from_dict(
        {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "label": IN_LABELS}
    )
    encoded = tokenizer(OUTLIER_TEXTS)
    outliers = Dataset.from_dict(
        {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
    )
    return train, outliers


def train(output_dir: str, batch_size: int, oe_batch_size: int, oe_loss: str) -> dict[str, list]:
    """Train for 2 epochs with SGD and return the flat final weights and the per-step training logs.

    Args:
        output_dir: Trainer output folder.
        batch_size: In-distribution examples per device and step.
        oe_batch_size: Outlier examples per device and step.
        oe_loss: `"uniform_ce"` or `"energy"`, or `"none"` to train the baseline without outliers.

    Returns:
        `{"weights": [...], "logs": [{"loss", "loss_in", "loss_oe"}, ...], "world_size": int}`; the
        baseline logs only `loss`.
    """
    tokenizer = build_tokenizer()
    train_dataset, outlier_dataset = build_datasets(tokenizer)
    args = OETrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=batch_size,
        oe_batch_size=oe_batch_size,
        oe_loss="uniform_ce" if oe_loss == "none" else oe_loss,
        energy_m_in=-1.0,
        energy_m_out=1.0,
        num_train_epochs=2,
        learning_rate=0.5,
        optim="sgd",
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=11,
        use_cpu=True,
        # gloo is the collective backend that runs on CPU. A single process sets none.
        ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        disable_tqdm=True,
    )
    trainer = OETrainer(
        model=make_tiny_bert(seed=6),
        args=args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        outlier_dataset=None if oe_loss == "none" else outlier_dataset,
    )
    trainer.train()

    weights = torch.cat([parameter.detach().flatten() for parameter in trainer.model.parameters()])
    logs = [
        {key: entry[key] for key in ("loss", "loss_in", "loss_oe") if key in entry}
        for entry in trainer.state.log_history
        if "loss" in entry
    ]
    return {"weights": weights.tolist(), "logs": logs, "world_size": args.world_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", help="Folder for the trainer output and result.json.")
    parser.add_argument("--batch-size", type=int, required=True, help="In-distribution batch per device.")
    parser.add_argument("--oe-batch-size", type=int, required=True, help="Outlier batch per device.")
    parser.add_argument(
        "--oe-losses", nargs="+", default=["uniform_ce"], help="Outlier losses, one training run each."
    )
    options = parser.parse_args()

    result = {}
    for oe_loss in options.oe_losses:
        run_dir = str(Path(options.output_dir, oe_loss))
        result[oe_loss] = train(run_dir, options.batch_size, options.oe_batch_size, oe_loss)

    if not torch.distributed.is_initialized():
        Path(options.output_dir, "result.json").write_text(json.dumps(result))
        return

    if torch.distributed.get_rank() == 0:
        Path(options.output_dir, "result.json").write_text(json.dumps(result))
    # Without this, a gloo thread still running at interpreter exit sometimes aborts the process
    # ("terminate called without an active exception"), seen with torch 2.13 on CPU.
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
