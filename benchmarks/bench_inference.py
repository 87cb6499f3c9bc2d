"""Inference throughput: `OETrainer.predict_logits` against raw model forward passes.

Contenders, each scoring one set of sentences at the same batch size:

- `predict_logits`: `OETrainer.predict_logits` on the tokenized dataset in its own order (it sorts by
  length itself, pads each batch with the trainer's collator and restores the order).
- `raw_sorted`: the model's forward under `torch.inference_mode` on pre-tokenized batches, sorted by
  length and padded per batch, with the tensors built before timing.
- `raw_fixed`: the same forward on batches in dataset order, every row padded to the set's max length.
- `detector`: `oe_nlp.detector.OODDetector` on the raw texts (tokenization included), when that module
  exists.

Sets: the SST-2 test set (1,821 sentences) and a seeded random subset of IMDB test reviews truncated to
400 tokens. Models: the SST GRU and a small BERT from a config, both with random weights (throughput
does not depend on the weights).

    OMP_NUM_THREADS=1 python benchmarks/bench_inference.py --data_dir ../shared/data
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections.abc import Callable
from typing import Any

import bench_common
import numpy as np

MODELS = ("gru", "bert")
IMDB_MAX_TOKENS = 400


def measure_throughput(
    contenders: dict[str, Callable[[], Any]], num_sentences: int, repeats: int
) -> dict[str, dict[str, float]]:
    """Time each contender `repeats` times, interleaved, after one untimed warm-up call each.

    A contender is any callable that scores the whole set once, so new inference paths (such as an
    `OODDetector`) join by adding one entry.

    Returns:
        `{name: {"median_seconds": ..., "sentences_per_second": ...}}`.
    """
    if repeats < 1:
        raise ValueError(f"`repeats` must be a positive integer, got {repeats}.")
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for contender in contenders.values():
        contender()
    for _ in range(repeats):
        for name, contender in contenders.items():
            start = time.perf_counter()
            contender()
            seconds[name].append(time.perf_counter() - start)

    results = {}
    for name, values in seconds.items():
        median_seconds = bench_common.median(values)
        results[name] = {
            "median_seconds": median_seconds,
            "sentences_per_second": bench_common.ratio(num_sentences, median_seconds),
        }
    return results


def padded_batches(
    rows: list[list[int]], order: np.ndarray, batch_size: int, pad_id: int, length: int | None = None
) -> list[dict[str, Any]]:
    """Build `input_ids` / `attention_mask` tensors for `rows` taken in `order`, right-padded.

    Each batch is padded to its own max length, or to `length` when given.
    """
    import torch

    batches = []
    for start in range(0, len(order), batch_size):
        chunk = [rows[index] for index in order[start : start + batch_size]]
        width = length or max(len(ids) for ids in chunk)
        input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, ids in enumerate(chunk):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
        batches.append({"input_ids": input_ids, "attention_mask": attention_mask})
    return batches


def forward_all(model: Any, batches: list[dict[str, Any]]) -> list[Any]:
    """Run the model over prepared batches without gradients and return the logits."""
    import torch

    with torch.inference_mode():
        return [model(**batch).logits for batch in batches]


def build_models(tokenizer: Any) -> dict[str, Any]:
    """Build the SST GRU (vocabulary of `tokenizer`) and a small BERT (4 layers, hidden 256) in eval mode."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from oe_nlp.models import RecurrentClassifierConfig, RecurrentForSequenceClassification

    torch.manual_seed(0)
    gru = RecurrentForSequenceClassification(
        RecurrentClassifierConfig(
            vocab_size=len(tokenizer), num_labels=2, pad_token_id=tokenizer.pad_token_id
        )
    )
    bert = BertForSequenceClassification(
        BertConfig(
            vocab_size=30522,
            hidden_size=256,
            num_hidden_layers=4,
            num_attention_heads=4,
            intermediate_size=1024,
            max_position_embeddings=512,
            num_labels=2,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    return {"gru": gru.eval(), "bert": bert.eval()}


def load_sets(data_dir: str, imdb_size: int, seed: int = 0) -> tuple[Any, dict[str, list[str]]]:
    """Build the SST word tokenizer and return it with the SST test texts and an IMDB test subset."""
    from oe_nlp.data import load_text_dataset
    from oe_nlp.models import build_word_tokenizer

    tokenizer = build_word_tokenizer(load_text_dataset("sst2", "train", data_dir=data_dir)["text"], 10000)
    sst = load_text_dataset("sst2", "test", data_dir=data_dir)["text"]
    imdb = load_text_dataset("imdb", "test", data_dir=data_dir)["text"]
    picked = np.random.default_rng(seed).choice(len(imdb), size=min(imdb_size, len(imdb)), replace=False)
    return tokenizer, {"sst2_test": list(sst), "imdb_test": [imdb[int(index)] for index in picked]}


def contenders_for(
    model: Any, tokenizer: Any, texts: list[str], max_tokens: int, batch_size: int, output_dir: str
) -> tuple[dict[str, Callable[[], Any]], dict[str, float]]:
    """Build the contenders for one model and one set, and return them with the set's token statistics."""
    from datasets import Dataset

    from oe_nlp.trainer import OETrainer, OETrainingArguments

    encoded = tokenizer(texts, truncation=True, max_length=max_tokens)
    rows = encoded["input_ids"]
    lengths = np.array([len(ids) for ids in rows])
    dataset = Dataset.from_dict({"input_ids": rows, "attention_mask": encoded["attention_mask"]})

    args = OETrainingArguments(
        output_dir=output_dir, per_device_eval_batch_size=batch_size, report_to="none", disable_tqdm=True,
        dataloader_pin_memory=False, use_cpu=True,
    )  # fmt: skip
    trainer = OETrainer(model=model, args=args, processing_class=tokenizer)

    pad_id = tokenizer.pad_token_id
    sorted_batches = padded_batches(rows, np.argsort(lengths, kind="stable"), batch_size, pad_id)
    fixed_batches = padded_batches(rows, np.arange(len(rows)), batch_size, pad_id, length=int(lengths.max()))
    contenders: dict[str, Callable[[], Any]] = {
        "predict_logits": lambda: trainer.predict_logits(dataset),
        "raw_sorted": lambda: forward_all(model, sorted_batches),
        "raw_fixed": lambda: forward_all(model, fixed_batches),
    }

    detector = load_detector(model, tokenizer, max_tokens, output_dir)
    if detector is not None:
        contenders["detector"] = lambda: detector(texts, batch_size=batch_size)

    padded_tokens = sum(batch["input_ids"].numel() for batch in sorted_batches)
    statistics = {
        "sentences": len(rows),
        "mean_tokens": float(lengths.mean()),
        "max_tokens": int(lengths.max()),
        "padding_share_sorted": 1.0 - float(lengths.sum()) / padded_tokens,
        "padding_share_fixed": 1.0 - float(lengths.sum()) / (len(rows) * int(lengths.max())),
    }
    return contenders, statistics


def load_detector(model: Any, tokenizer: Any, max_tokens: int, output_dir: str) -> Any:
    """Return `OODDetector.from_pretrained` on a saved copy of the model, or None without that module.

    The threshold is a placeholder because calling the detector needs one and throughput does not
    depend on it. `max_length` truncates as the other contenders do.
    """
    if importlib.util.find_spec("oe_nlp.detector") is None:
        return None
    from oe_nlp.detector import OODDetector

    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return OODDetector.from_pretrained(output_dir, threshold=0.5, max_length=max_tokens)


def run(
    data_dir: str, models: list[str], imdb_size: int, bert_imdb_size: int, batch_size: int, repeats: int
) -> list[dict[str, Any]]:
    """Measure every model on every set and return one result per (model, set)."""
    tokenizer, sets = load_sets(data_dir, imdb_size)
    built = build_models(tokenizer)
    results = []
    for name in models:
        for set_name, texts in sets.items():
            if name == "bert" and set_name == "imdb_test":
                texts = texts[:bert_imdb_size]
            max_tokens = IMDB_MAX_TOKENS if set_name == "imdb_test" else 512
            with tempfile.TemporaryDirectory(prefix="oe_bench_inference_") as output_dir:
                contenders, statistics = contenders_for(
                    built[name], tokenizer, texts, max_tokens, batch_size, output_dir
                )
                timings = measure_throughput(contenders, len(texts), repeats)
            results.append(_summarize(name, set_name, statistics, timings, batch_size, repeats))
    return results


def _summarize(
    model: str,
    set_name: str,
    statistics: dict[str, float],
    timings: dict[str, dict[str, float]],
    batch_size: int,
    repeats: int,
) -> dict[str, Any]:
    speed = {name: values["sentences_per_second"] for name, values in timings.items()}
    return {
        "model": model,
        "set": set_name,
        "batch_size": batch_size,
        "repeats": repeats,
        **statistics,
        "timings": timings,
        "predict_over_raw_sorted": speed["predict_logits"] / speed["raw_sorted"],
        "predict_over_raw_fixed": speed["predict_logits"] / speed["raw_fixed"],
    }


def format_results(results: list[dict[str, Any]]) -> str:
    """Format the throughput results as a markdown table (sentences per second)."""
    with_detector = any("detector" in result["timings"] for result in results)
    header = ["Model", "Set", "Sentences", "Mean / max tokens", "predict_logits", "raw sorted", "raw fixed"]
    header += ["detector"] * with_detector + ["predict / raw sorted", "predict / raw fixed"]
    rows = []
    for result in results:
        speed = {name: values["sentences_per_second"] for name, values in result["timings"].items()}
        row = [
            result["model"], result["set"], result["sentences"],
            f"{result['mean_tokens']:.0f} / {result['max_tokens']}",
            f"{speed['predict_logits']:.0f}", f"{speed['raw_sorted']:.0f}", f"{speed['raw_fixed']:.0f}",
        ]  # fmt: skip
        if with_detector:
            row.append(f"{speed['detector']:.0f}" if "detector" in speed else "-")
        row += [
            bench_common.format_ratio(result["predict_over_raw_sorted"], goal=0.95, at_most=False),
            bench_common.format_ratio(result["predict_over_raw_fixed"], goal=1.5, at_most=False),
        ]
        rows.append(row)
    return bench_common.markdown_table(header, rows)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default=str(bench_common.DEFAULT_DATA_DIR), help="Local data folder.")
    parser.add_argument("--models", default="gru,bert", help=f"Comma-separated models, from {list(MODELS)}.")
    parser.add_argument("--imdb_size", type=int, default=2000, help="IMDB test reviews scored by the GRU.")
    parser.add_argument("--bert_imdb_size", type=int, default=100, help="IMDB test reviews scored by BERT.")
    parser.add_argument("--batch_size", type=int, default=256, help="Sentences per batch (the recipe's 256).")
    parser.add_argument("--repeats", type=int, default=3, help="Timed passes per contender.")
    parser.add_argument(
        "--quick", action="store_true", help="Smoke run: 200 IMDB reviews, 50 for BERT, 1 pass."
    )
    parser.add_argument("--json", default=None, help="Write the results to this JSON file.")
    arguments = parser.parse_args(argv)

    arguments.models = [name.strip() for name in arguments.models.split(",") if name.strip()]
    unknown = [name for name in arguments.models if name not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    if arguments.quick:
        arguments.imdb_size, arguments.bert_imdb_size, arguments.repeats = 200, 50, 1
    for name in ("imdb_size", "bert_imdb_size", "batch_size", "repeats"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(arguments, name)}")
    return arguments


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    arguments = parse_arguments(argv)
    bench_common.pin_threads(1)
    results = run(
        arguments.data_dir, arguments.models, arguments.imdb_size, arguments.bert_imdb_size,
        arguments.batch_size, arguments.repeats,
    )  # fmt: skip
    print(format_results(results))
    if arguments.json:
        bench_common.write_json(arguments.json, {"inference": results})
    return results


if __name__ == "__main__":
    main()
