"""Training overhead: one `OETrainer` optimizer step against a minimal hand-written PyTorch loop.

Both contenders train the same architecture from the same initial weights on the same batches: the
in-distribution rows in order (`train_sampling_strategy="sequential"`) and the outlier rows that
`oe_nlp.trainer.outlier_batch_indices` selects for each step. Each hand-loop step does the work of a
trainer step and no more: fetch and collate both batches, pad them to one length and concatenate them,
run one forward pass, add the cross-entropy and the uniform cross-entropy (Outlier Exposure) terms,
backward, clip the gradient norm to 1.0 as `Trainer` does by default, take an AdamW step (weight decay 0,
so it is Adam), step the cosine learning-rate schedule and zero the gradients.

Trainer step times come from a `TrainerCallback`: the interval between two consecutive `on_step_end`
events, which covers the whole loop iteration (in-distribution batch fetch, outlier fetch, forward,
backward, optimizer, scheduler, logging). The hand loop is timed around the same work.
The contenders run interleaved in one process, in rounds, after a discarded warm-up round.

    OMP_NUM_THREADS=1 python benchmarks/bench_training.py --data_dir ../shared/data
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bench_common
import numpy as np

MODELS = ("gru", "bert")
CONTENDERS = ("trainer_oe", "hand_oe", "trainer_in", "hand_in")
LEARNING_RATE = 0.01
MAX_GRAD_NORM = 1.0


@dataclass
class Setup:
    """One model's benchmark inputs: a model factory, tokenized data and the collator.

    Attributes:
        name: "gru" or "bert".
        make_model: Returns a fresh model with the same initial weights on every call.
        train_dataset: Tokenized in-distribution rows with a `label` column, a multiple of the batch size.
        outlier_dataset: Tokenized outlier rows without labels.
        collator: Turns a list of rows into a batch of tensors (the trainer's default collator).
        tokenizer: Passed to the trainer as `processing_class`, or None.
        pad_id: Padding id of `input_ids`.
        batch_size: In-distribution rows per step; the outlier batch has as many.
    """

    name: str
    make_model: Callable[[], Any]
    train_dataset: Any
    outlier_dataset: Any
    collator: Callable[[list[dict[str, Any]]], dict[str, Any]]
    tokenizer: Any
    pad_id: int
    batch_size: int = 64


@dataclass
class StepTimes:
    """Per-step seconds of each contender, gathered over the timed rounds."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in CONTENDERS})


def gru_setup(data_dir: str, batch_size: int = 64) -> Setup:
    """Build the SST GRU setup: SST-2 training sentences and WikiText-2 outlier sentences, 10,002 words."""
    from transformers import DataCollatorWithPadding

    from oe_nlp.data import load_outlier_dataset, load_text_dataset
    from oe_nlp.experiment import tokenize
    from oe_nlp.models import (
        RecurrentClassifierConfig,
        RecurrentForSequenceClassification,
        build_word_tokenizer,
    )

    train_text = load_text_dataset("sst2", "train", data_dir=data_dir)
    tokenizer = build_word_tokenizer(train_text["text"], vocab_size=10000)
    train = tokenize(train_text, tokenizer, max_length=256)
    train = train.select(range(len(train) // batch_size * batch_size))
    outliers = tokenize(load_outlier_dataset("wikitext2", data_dir=data_dir), tokenizer, max_length=256)

    config = RecurrentClassifierConfig(
        vocab_size=len(tokenizer), embedding_dim=50, hidden_size=128, num_layers=2, num_labels=2,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip

    def make_model() -> Any:
        import torch

        torch.manual_seed(0)
        return RecurrentForSequenceClassification(config)

    return Setup(
        "gru", make_model, train, outliers, DataCollatorWithPadding(tokenizer), tokenizer,
        tokenizer.pad_token_id, batch_size,
    )  # fmt: skip


def bert_setup(num_batches: int, batch_size: int = 32, sequence_length: int = 64) -> Setup:
    """Build a small BERT (4 layers, hidden 256, vocabulary 30,522) on random token ids of one length.

    The batch size defaults to 32, the transformer recipes' default, because a BERT step at 64 + 64 rows
    takes seconds on one CPU thread.
    """
    import torch
    from datasets import Dataset
    from transformers import BertConfig, BertForSequenceClassification, default_data_collator

    config = BertConfig(
        vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
        max_position_embeddings=512, num_labels=2, pad_token_id=0,
    )  # fmt: skip
    rng = np.random.default_rng(0)

    def random_rows(count: int) -> dict[str, list]:
        ids = rng.integers(1, config.vocab_size, size=(count, sequence_length))
        return {"input_ids": ids.tolist(), "attention_mask": np.ones_like(ids).tolist()}

    train = Dataset.from_dict(
        {
            **random_rows(num_batches * batch_size),
            "label": rng.integers(0, 2, num_batches * batch_size).tolist(),
        }
    )
    outliers = Dataset.from_dict(random_rows(4 * batch_size))

    def make_model() -> Any:
        torch.manual_seed(0)
        return BertForSequenceClassification(config)

    return Setup("bert", make_model, train, outliers, default_data_collator, None, 0, batch_size)


class StepTimer:
    """A `TrainerCallback` that records the seconds between consecutive `on_step_end` events."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        timer = self

        class _Callback(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                timer.last_end = None

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                now = time.perf_counter()
                if timer.last_end is not None:
                    timer.seconds.append(now - timer.last_end)
                timer.last_end = now

        self.callback = _Callback()
        self.last_end: float | None = None
        self.seconds: list[float] = []

    def pop(self) -> list[float]:
        """Return the recorded step times and start a fresh list."""
        seconds, self.seconds = self.seconds, []
        return seconds


def make_trainer(setup: Setup, with_outliers: bool, steps: int, output_dir: str) -> tuple[Any, StepTimer]:
    """Build an `OETrainer` with the recipe's optimizer settings that runs `steps` steps per `train()`."""
    from oe_nlp.trainer import OETrainer, OETrainingArguments

    args = OETrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=setup.batch_size, oe_batch_size=setup.batch_size,
        learning_rate=LEARNING_RATE, lr_scheduler_type="cosine", weight_decay=0.0, warmup_steps=0,
        optim="adamw_torch", max_grad_norm=MAX_GRAD_NORM, max_steps=steps, train_sampling_strategy="sequential",
        logging_steps=20, save_strategy="no", report_to="none", disable_tqdm=True, seed=1,
        dataloader_pin_memory=False, use_cpu=True,
    )  # fmt: skip
    timer = StepTimer()
    trainer = OETrainer(
        model=setup.make_model(), args=args, train_dataset=setup.train_dataset, data_collator=setup.collator,
        processing_class=setup.tokenizer, outlier_dataset=setup.outlier_dataset if with_outliers else None,
        callbacks=[timer.callback],
    )  # fmt: skip
    return trainer, timer


class HandLoop:
    """A minimal PyTorch training loop doing the work of one `OETrainer` step per `step()` call."""

    def __init__(self, setup: Setup, with_outliers: bool, steps: int, seed: int = 1) -> None:
        import torch

        self.setup = setup
        self.with_outliers = with_outliers
        self.seed = seed
        self.model = setup.make_model()
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / steps))
        )

    def step(self, step_index: int) -> float:
        """Run training step `step_index` of a round and return its loss."""
        import torch
        import torch.nn.functional as F

        from oe_nlp.trainer import outlier_batch_indices

        size = self.setup.batch_size
        first = (step_index * size) % len(self.setup.train_dataset)
        rows = self.setup.train_dataset.__getitems__(list(range(first, first + size)))
        inputs = self.setup.collator(rows)
        labels = inputs.pop("labels")

        if self.with_outliers:
            indices = outlier_batch_indices(len(self.setup.outlier_dataset), size, self.seed, step_index)
            outliers = self.setup.collator(self.setup.outlier_dataset.__getitems__(indices.tolist()))
            inputs = self._concatenate(inputs, outliers)

        logits = self.model(**inputs).logits
        loss = F.cross_entropy(logits[:size], labels)
        if self.with_outliers:
            loss = loss - torch.log_softmax(logits[size:], dim=-1).mean()

        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), MAX_GRAD_NORM)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        return float(loss.detach())

    def _concatenate(self, in_batch: dict[str, Any], out_batch: dict[str, Any]) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F

        length = max(in_batch["input_ids"].shape[1], out_batch["input_ids"].shape[1])
        combined = {}
        for key, in_tensor in in_batch.items():
            value = self.setup.pad_id if key == "input_ids" else 0
            parts = [
                F.pad(part, (0, length - part.shape[1]), value=value) for part in (in_tensor, out_batch[key])
            ]
            combined[key] = torch.cat(parts)
        return combined

    def run(self, steps: int) -> list[float]:
        """Run `steps` steps and return the seconds of each step after the first."""
        seconds = []
        for step_index in range(steps):
            start = time.perf_counter()
            self.step(step_index)
            seconds.append(time.perf_counter() - start)
        return seconds[1:]


def real_token_ratio(setup: Setup, steps: int, seed: int = 1) -> float:
    """Return the mean real-token count of OE batches over that of in-distribution batches."""
    from oe_nlp.trainer import outlier_batch_indices

    size = setup.batch_size
    in_tokens, out_tokens = 0, 0
    for step_index in range(steps):
        first = (step_index * size) % len(setup.train_dataset)
        in_tokens += sum(sum(mask) for mask in setup.train_dataset[first : first + size]["attention_mask"])
        indices = outlier_batch_indices(len(setup.outlier_dataset), size, seed, step_index)
        out_tokens += sum(sum(mask) for mask in setup.outlier_dataset[indices.tolist()]["attention_mask"])
    return (in_tokens + out_tokens) / in_tokens


def measure_setup(setup: Setup, steps: int, rounds: int) -> dict[str, Any]:
    """Time the four contenders interleaved in rounds and return their medians and ratios."""
    times = StepTimes()
    with tempfile.TemporaryDirectory(prefix="oe_bench_training_") as output_dir:
        trainers = {
            "trainer_oe": make_trainer(setup, True, steps, output_dir),
            "trainer_in": make_trainer(setup, False, steps, output_dir),
        }
        loops = {"hand_oe": HandLoop(setup, True, steps), "hand_in": HandLoop(setup, False, steps)}

        for round_index in range(rounds + 1):
            order = CONTENDERS if round_index % 2 == 0 else tuple(reversed(CONTENDERS))
            for name in order:
                if name in trainers:
                    trainer, timer = trainers[name]
                    trainer.train()
                    seconds = timer.pop()
                else:
                    seconds = loops[name].run(steps)
                if round_index > 0:  # round 0 is the warm-up
                    times.seconds[name].extend(seconds)

    medians = {name: bench_common.median(values) for name, values in times.seconds.items()}
    return {
        "model": setup.name,
        "batch_size": setup.batch_size,
        "steps_per_round": steps,
        "rounds": rounds,
        "timed_steps": {name: len(values) for name, values in times.seconds.items()},
        "median_step_seconds": medians,
        "overhead_ratio_oe": bench_common.ratio(medians["trainer_oe"], medians["hand_oe"]),
        "overhead_ratio_in": bench_common.ratio(medians["trainer_in"], medians["hand_in"]),
        "oe_over_in_trainer": bench_common.ratio(medians["trainer_oe"], medians["trainer_in"]),
        "oe_over_in_hand": bench_common.ratio(medians["hand_oe"], medians["hand_in"]),
        "row_ratio": 2.0,
        "real_token_ratio": real_token_ratio(setup, steps),
    }


def format_results(results: list[dict[str, Any]]) -> str:
    """Format the training-overhead results as markdown tables."""
    rows = []
    for result in results:
        medians = result["median_step_seconds"]
        rows.append([
            result["model"],
            bench_common.format_seconds(medians["trainer_oe"]),
            bench_common.format_seconds(medians["hand_oe"]),
            bench_common.format_ratio(result["overhead_ratio_oe"], goal=1.05),
            bench_common.format_ratio(result["overhead_ratio_in"]),
        ])  # fmt: skip
    overhead = bench_common.markdown_table(
        ["Model", "OETrainer step", "Hand loop step", "OETrainer / hand (OE)", "Trainer / hand (no OE)"], rows
    )

    rows = []
    for result in results:
        rows.append([
            result["model"],
            bench_common.format_ratio(result["oe_over_in_trainer"]),
            bench_common.format_ratio(result["oe_over_in_hand"]),
            f"{result['row_ratio']:.2f}x",
            f"{result['real_token_ratio']:.2f}x",
        ])  # fmt: skip
    physical = bench_common.markdown_table(
        ["Model", "OE / in-dist. step (trainer)", "OE / in-dist. step (hand)", "Rows", "Real tokens"], rows
    )
    return overhead + "\n" + physical


def run(data_dir: str, models: list[str], steps: int, bert_steps: int, rounds: int) -> list[dict[str, Any]]:
    """Measure every requested model and return one result dict per model."""
    results = []
    for name in models:
        if name == "gru":
            results.append(measure_setup(gru_setup(data_dir), steps, rounds))
        else:
            results.append(measure_setup(bert_setup(num_batches=bert_steps), bert_steps, rounds))
    return results


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default=str(bench_common.DEFAULT_DATA_DIR), help="Local data folder.")
    parser.add_argument("--models", default="gru,bert", help=f"Comma-separated models, from {list(MODELS)}.")
    parser.add_argument("--steps", type=int, default=40, help="GRU optimizer steps per contender and round.")
    parser.add_argument(
        "--bert_steps", type=int, default=6, help="BERT optimizer steps per contender and round."
    )
    parser.add_argument("--rounds", type=int, default=3, help="Timed rounds after the warm-up round.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 6 GRU and 3 BERT steps, 1 round.")
    parser.add_argument("--json", default=None, help="Write the results to this JSON file.")
    arguments = parser.parse_args(argv)

    arguments.models = [name.strip() for name in arguments.models.split(",") if name.strip()]
    unknown = [name for name in arguments.models if name not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    if arguments.quick:
        arguments.steps, arguments.bert_steps, arguments.rounds = 6, 3, 1
    if min(arguments.steps, arguments.bert_steps) < 3 or arguments.rounds < 1:
        parser.error(
            f"--steps and --bert_steps must be >= 3 and --rounds >= 1, got {arguments.steps}, "
            f"{arguments.bert_steps} and {arguments.rounds}"
        )
    return arguments


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    arguments = parse_arguments(argv)
    bench_common.pin_threads(1)
    results = run(
        arguments.data_dir, arguments.models, arguments.steps, arguments.bert_steps, arguments.rounds
    )
    print(format_results(results))
    if arguments.json:
        bench_common.write_json(arguments.json, {"training": results})
    return results


if __name__ == "__main__":
    main()
