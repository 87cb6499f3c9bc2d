"""Bad input that users hit in practice: each case gets a clear error (or warning) before training runs.

docs/errors.md lists these cases together with the older checks of the other test files.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from sklearn.metrics import accuracy_score
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
from transformers.utils import logging as hf_logging

from oe_nlp.data import load_text_dataset
from oe_nlp.evaluation import _accuracy
from oe_nlp.experiment import tokenize, train_stage
from oe_nlp.trainer import OETrainer, OETrainingArguments, outlier_batch_indices

from .conftest import WORDS, make_tiny_bert


def make_args(tmp_path: Path, **overrides) -> OETrainingArguments:
    settings = {
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 4,
        "max_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 3,
        "use_cpu": True,
    }
    settings.update(overrides)
    return OETrainingArguments(**settings)


def with_labels(dataset: Dataset, labels: list[int]) -> Dataset:
    return dataset.remove_columns("label").add_column("label", labels)


@pytest.fixture
def propagate_hf_logs():
    """Let caplog see records of the transformers logger tree, which does not propagate by default."""
    hf_logging.enable_propagation()
    yield
    hf_logging.disable_propagation()


# ---------------------------------------------------------------- unlabelled and out-of-range labels


def test_unlabelled_split_rejected_in_oe_mode(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    test_split = with_labels(labelled_dataset, [-1] * len(labelled_dataset))

    with pytest.raises(ValueError) as error:
        OETrainer(
            model=make_tiny_bert(),
            args=make_args(tmp_path),
            train_dataset=test_split,
            processing_class=word_tokenizer,
            outlier_dataset=outlier_dataset,
        )

    message = str(error.value)
    assert "`train_dataset` has no labels" in message
    assert "every value of its 'label' column is -1" in message
    assert "Train on the train split" in message


def test_unlabelled_split_rejected_by_pipeline(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    data = {
        "splits": {"train": with_labels(labelled_dataset, [-1] * len(labelled_dataset))},
        "tokenizer": word_tokenizer,
    }

    with pytest.raises(ValueError, match="has no labels: every value of its 'label' column is -1"):
        train_stage(make_tiny_bert(), make_args(tmp_path), data, outliers=outlier_dataset)


def test_negative_label_rejected_with_values(tmp_path, word_tokenizer, labelled_dataset):
    labels = [0, 1, -1, -2] * (len(labelled_dataset) // 4)

    with pytest.raises(ValueError, match=r"invalid label\(s\) \[-2, -1\] in its 'label' column.*-100"):
        OETrainer(
            model=make_tiny_bert(),
            args=make_args(tmp_path),
            train_dataset=with_labels(labelled_dataset, labels),
            processing_class=word_tokenizer,
        )


def test_ignored_labels_accepted(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    labels = [0, 1, -100] * (len(labelled_dataset) // 3)
    model = make_tiny_bert()
    trainer = OETrainer(
        model=model,
        args=make_args(tmp_path),
        train_dataset=with_labels(labelled_dataset, labels),
        processing_class=word_tokenizer,
        outlier_dataset=outlier_dataset,
    )
    batch = trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(3)]))
    model.train()

    loss = trainer.compute_loss(model, batch)

    assert torch.isfinite(loss)


def test_label_above_num_labels_names_both(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    labels = [0, 1, 2, 4] * (len(labelled_dataset) // 4)

    with pytest.raises(ValueError) as error:
        OETrainer(
            model=make_tiny_bert(num_labels=2),
            args=make_args(tmp_path),
            train_dataset=with_labels(labelled_dataset, labels),
            processing_class=word_tokenizer,
            outlier_dataset=outlier_dataset,
        )

    message = str(error.value)
    assert "class id(s) [2, 4] in its 'label' column" in message
    assert "the model has num_labels=2" in message
    assert "num_labels=5 or more" in message


def test_label_check_skips_regression(tmp_path, word_tokenizer, labelled_dataset):
    model = make_tiny_bert(num_labels=1)
    labels = [0, 1, 2, 3] * (len(labelled_dataset) // 4)

    trainer = OETrainer(
        model=model,
        args=make_args(tmp_path),
        train_dataset=with_labels(labelled_dataset, labels),
        processing_class=word_tokenizer,
    )

    assert trainer.model.config.num_labels == 1


# ---------------------------------------------------------------- accuracy on an unlabelled eval set


def test_accuracy_all_ignored_is_none(caplog, propagate_hf_logs):
    logits = np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])
    dataset = Dataset.from_dict({"input_ids": [[2], [3], [4]], "label": [-100, -100, -100]})

    with caplog.at_level(logging.WARNING):
        accuracy = _accuracy(logits, dataset)

    assert accuracy is None
    assert "accuracy is undefined: all 3 labels in column 'label' are negative ([-100])" in caplog.text


def test_accuracy_skips_ignored_rows():
    logits = np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.1, 0.9]])
    labels = [1, 1, -100, 0, -1]
    dataset = Dataset.from_dict({"input_ids": [[2]] * 5, "label": labels})

    accuracy = _accuracy(logits, dataset)

    expected = accuracy_score([1, 1, 0], [1, 0, 0])
    assert accuracy == pytest.approx(expected, abs=1e-12)
    assert accuracy == pytest.approx(2 / 3, abs=1e-12)


# ---------------------------------------------------------------- outlier set without text


def test_tokenize_outliers_without_text(word_tokenizer):
    outliers = Dataset.from_dict({"sentence": ["the river", "a city"]})

    with pytest.raises(ValueError) as error:
        tokenize(outliers, word_tokenizer, max_length=8)

    message = str(error.value)
    assert "no text column 'text'" in message
    assert "Its columns are ['sentence']" in message
    assert 'rename_column("<name>", "text")' in message


# ---------------------------------------------------------------- tokenizer without a pad token


def test_missing_pad_token_names_fix(tmp_path, labelled_dataset, outlier_dataset):
    backend = Tokenizer(models.WordLevel(vocab={word: i for i, word in enumerate(WORDS)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    model = make_tiny_bert()
    model.config.pad_token_id = None

    with pytest.raises(ValueError) as error:
        OETrainer(
            model=model,
            args=make_args(tmp_path),
            train_dataset=labelled_dataset,
            processing_class=tokenizer,
            outlier_dataset=outlier_dataset,
        )

    message = str(error.value)
    assert f"tokenizer ({type(tokenizer).__name__}) has no `pad_token`" in message
    assert "`model.config.pad_token_id` is None" in message
    assert "`tokenizer.pad_token = tokenizer.eos_token`" in message


def test_config_pad_id_replaces_missing_pad_token(tmp_path, labelled_dataset, outlier_dataset):
    model = make_tiny_bert()

    trainer = OETrainer(
        model=model,
        args=make_args(tmp_path),
        train_dataset=labelled_dataset,
        processing_class=None,
        outlier_dataset=outlier_dataset,
    )

    assert trainer._pad_values()[0]["input_ids"] == 1


# ---------------------------------------------------------------- sequences longer than the positions


@pytest.mark.parametrize("role", ["`train_dataset`", "`outlier_dataset`", "OOD set 'long'"])
def test_long_sequences_rejected_early(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset, role):
    long_ids = word_tokenizer([" ".join(["good"] * 30)] * 4)
    long_unlabelled = Dataset.from_dict(dict(long_ids))
    datasets = {"train_dataset": labelled_dataset, "outlier_dataset": outlier_dataset}
    if role == "`train_dataset`":
        datasets["train_dataset"] = long_unlabelled.add_column("label", [0, 1, 0, 1])
    elif role == "`outlier_dataset`":
        datasets["outlier_dataset"] = long_unlabelled
    else:
        datasets["ood_eval_datasets"] = {"long": long_unlabelled}

    with pytest.raises(ValueError) as error:
        OETrainer(
            model=make_tiny_bert(max_position_embeddings=16),
            args=make_args(tmp_path),
            processing_class=word_tokenizer,
            **datasets,
        )

    message = str(error.value)
    assert message.startswith(f"{role} has sequences of up to 30 tokens")
    assert "max_position_embeddings=16" in message
    assert "`truncation=True, max_length=16`" in message


def test_sequences_at_position_limit_accepted(tmp_path, word_tokenizer, outlier_dataset):
    ids = word_tokenizer([" ".join(["good"] * 16)] * 4)
    train = Dataset.from_dict({**dict(ids), "label": [0, 1, 0, 1]})
    model = make_tiny_bert(max_position_embeddings=16)
    trainer = OETrainer(
        model=model,
        args=make_args(tmp_path),
        train_dataset=train,
        processing_class=word_tokenizer,
        outlier_dataset=outlier_dataset,
    )
    batch = trainer._prepare_inputs(trainer.data_collator([train[i] for i in range(4)]))
    model.train()

    loss = trainer.compute_loss(model, batch)

    assert batch["input_ids"].shape == (4, 16)
    assert torch.isfinite(loss)


# ---------------------------------------------------------------- local files


def test_non_utf8_file_names_line(tmp_path):
    train = tmp_path / "sst" / "stsa" / "stsa.binary.train"
    train.parent.mkdir(parents=True)
    train.write_bytes(b"1 good film\n0 bad film\n1 caf\xe9 scene\n")

    with pytest.raises(ValueError) as error:
        load_text_dataset("sst2", "train", tmp_path)

    message = str(error.value)
    assert f"{train} is not valid UTF-8" in message
    assert "line 3 contains the byte(s) b'\\xe9' at byte 6 of the line" in message
    assert "convert it to UTF-8" in message


def test_misplaced_file_names_expected_path(tmp_path):
    (tmp_path / "stsa.binary.train").write_text("1 good film\n", encoding="utf-8")
    (tmp_path / "sst").mkdir()
    (tmp_path / "sst" / "stsa.binary.train").write_text("1 good film\n", encoding="utf-8")

    with pytest.raises(FileNotFoundError) as error:
        load_text_dataset("sst2", "train", tmp_path)

    assert str(tmp_path / "sst" / "stsa" / "stsa.binary.train") in str(error.value)


# ---------------------------------------------------------------- outlier batch larger than the outlier set


def test_outlier_indices_cycle_past_corpus():
    indices = outlier_batch_indices(num_outliers=4, batch_size=10, seed=7, batch_number=0)

    counts = Counter(indices.tolist())
    assert len(indices) == 10
    assert sorted(counts) == [0, 1, 2, 3]
    assert min(counts.values()) >= 2
    assert sorted(indices[:4].tolist()) == [0, 1, 2, 3]
    assert sorted(indices[4:8].tolist()) == [0, 1, 2, 3]


def test_outlier_batch_larger_than_corpus(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    outliers = outlier_dataset.select(range(4))
    trainer = OETrainer(
        model=make_tiny_bert(),
        args=make_args(tmp_path, oe_batch_size=10),
        train_dataset=labelled_dataset,
        processing_class=word_tokenizer,
        outlier_dataset=outliers,
    )

    batch = trainer._next_outlier_batch()

    rows = [
        tuple(ids[mask.bool()].tolist()) for ids, mask in zip(batch["input_ids"], batch["attention_mask"])
    ]
    counts = Counter(rows)
    assert len(rows) == 10
    assert set(counts) == {tuple(ids) for ids in outliers["input_ids"]}
    assert min(counts.values()) >= 2


# ---------------------------------------------------------------- label columns that remove_unused_columns drops


def test_renamed_label_column_rejected(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    with pytest.raises(ValueError) as error:
        OETrainer(
            model=make_tiny_bert(),
            args=make_args(tmp_path),
            train_dataset=labelled_dataset.rename_column("label", "target"),
            processing_class=word_tokenizer,
            outlier_dataset=outlier_dataset,
        )

    message = str(error.value)
    assert (
        "`train_dataset` has no label column (columns: ['input_ids', 'attention_mask', 'target'])" in message
    )
    assert "`remove_unused_columns` would drop any other name" in message


def test_custom_label_names_rejected(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    with pytest.raises(ValueError) as error:
        OETrainer(
            model=make_tiny_bert(),
            args=make_args(tmp_path, label_names=["sentiment"]),
            train_dataset=labelled_dataset.rename_column("label", "sentiment"),
            processing_class=word_tokenizer,
            outlier_dataset=outlier_dataset,
        )

    message = str(error.value)
    assert "`label_names`=['sentiment']" in message
    assert "dataset.rename_column('sentiment', 'labels')" in message


def test_batch_without_labels_rejected(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    """A custom collator that drops the labels fails at the first OE step with the column names to use."""
    args = OETrainingArguments(
        str(tmp_path / "run"), report_to="none", use_cpu=True, per_device_train_batch_size=4
    )
    trainer = OETrainer(
        model=make_tiny_bert(),
        args=args,
        train_dataset=labelled_dataset,
        processing_class=word_tokenizer,
        outlier_dataset=outlier_dataset,
    )
    batch = trainer.data_collator([labelled_dataset[index] for index in range(4)])
    unlabelled = {key: value for key, value in batch.items() if key != "labels"}
    float_labels = {**batch, "labels": batch["labels"].float()}
    trainer.model.train()

    with pytest.raises(
        ValueError,
        match=r"The in-distribution batch has no labels \(inputs: \['attention_mask', 'input_ids'\]\)",
    ):
        trainer.compute_loss(trainer.model, unlabelled)
    with pytest.raises(TypeError, match="Labels must be integer class ids, got dtype torch.float32"):
        trainer.compute_loss(trainer.model, float_labels)
