"""OETrainer and OETrainingArguments: the mixed loss, the outlier stream, evaluation and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict
from sklearn.metrics import roc_auc_score
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

from oe_nlp.trainer import OETrainer, OETrainingArguments, concatenate_batches, outlier_batch_indices

from .conftest import make_tiny_bert


def make_args(tmp_path, **overrides) -> OETrainingArguments:
    settings = {
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 8,
        "num_train_epochs": 2,
        "learning_rate": 1e-2,
        "logging_steps": 2,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 3,
        "use_cpu": True,
    }
    settings.update(overrides)
    return OETrainingArguments(**settings)


def float64_oe_reference(model, tokenizer, in_features, out_features, weight) -> float:
    """Compute CE(in) + weight * mean(logsumexp(z) - mean(z)) over outliers in float64, separate forwards."""
    collator = DataCollatorWithPadding(tokenizer)
    in_batch = collator(in_features)
    labels = in_batch.pop("labels").numpy()
    out_batch = collator(out_features)
    with torch.no_grad():
        in_logits = model(**in_batch).logits.double().numpy()
        out_logits = model(**out_batch).logits.double().numpy()

    in_log_probs = in_logits - np.log(np.exp(in_logits).sum(axis=1, keepdims=True))
    loss_in = -in_log_probs[np.arange(len(labels)), labels].mean()
    uniform_ce = np.log(np.exp(out_logits).sum(axis=1)) - out_logits.mean(axis=1)
    return float(loss_in + weight * uniform_ce.mean())


def test_oe_loss_matches_float64_reference(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    model = make_tiny_bert()
    args = make_args(tmp_path, oe_weight=0.7, oe_batch_size=3)
    trainer = OETrainer(
        model=model,
        args=args,
        train_dataset=labelled_dataset,
        processing_class=word_tokenizer,
        outlier_dataset=outlier_dataset,
    )
    in_features = [labelled_dataset[index] for index in range(4)]
    batch = trainer._prepare_inputs(trainer.data_collator(in_features))
    model.train()

    loss = trainer.compute_loss(model, batch).item()

    indices = outlier_batch_indices(len(outlier_dataset), 3, seed=3, batch_number=0)
    out_features = [outlier_dataset[int(index)] for index in indices]
    expected = float64_oe_reference(model, word_tokenizer, in_features, out_features, weight=0.7)
    assert loss == pytest.approx(expected, abs=1e-5)


def test_energy_loss_matches_float64_reference(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    model = make_tiny_bert(seed=1)
    args = make_args(
        tmp_path, oe_loss="energy", oe_weight=0.5, oe_batch_size=2, energy_m_in=-1.0, energy_m_out=2.0
    )
    trainer = OETrainer(
        model=model,
        args=args,
        train_dataset=labelled_dataset,
        processing_class=word_tokenizer,
        outlier_dataset=outlier_dataset,
    )
    in_features = [labelled_dataset[index] for index in range(4)]
    batch = trainer._prepare_inputs(trainer.data_collator(in_features))
    model.train()

    loss = trainer.compute_loss(model, batch).item()

    collator = DataCollatorWithPadding(word_tokenizer)
    in_batch = collator(in_features)
    labels = in_batch.pop("labels").numpy()
    indices = outlier_batch_indices(len(outlier_dataset), 2, seed=3, batch_number=0)
    out_batch = collator([outlier_dataset[int(index)] for index in indices])
    with torch.no_grad():
        in_logits = model(**in_batch).logits.double().numpy()
        out_logits = model(**out_batch).logits.double().numpy()
    in_lse = np.log(np.exp(in_logits).sum(axis=1))
    loss_in = (in_lse - in_logits[np.arange(4), labels]).mean()
    energy_in, energy_out = -in_lse, -np.log(np.exp(out_logits).sum(axis=1))
    margin = (np.maximum(energy_in + 1.0, 0) ** 2).mean() + (np.maximum(2.0 - energy_out, 0) ** 2).mean()
    assert loss == pytest.approx(loss_in + 0.5 * margin, abs=1e-5)


def test_without_outliers_equals_trainer(tmp_path, word_tokenizer, labelled_dataset):
    histories, weights = [], []
    for trainer_class, args_class in ((Trainer, TrainingArguments), (OETrainer, OETrainingArguments)):
        settings = make_args(tmp_path).to_dict()
        settings = {
            key: settings[key]
            for key in (
                "per_device_train_batch_size",
                "num_train_epochs",
                "learning_rate",
                "logging_steps",
                "seed",
            )
        }
        args = args_class(
            output_dir=str(tmp_path / trainer_class.__name__),
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            **settings,
        )
        trainer = trainer_class(
            model=make_tiny_bert(seed=5),
            args=args,
            train_dataset=labelled_dataset,
            processing_class=word_tokenizer,
        )
        trainer.train()
        histories.append([entry["loss"] for entry in trainer.state.log_history if "loss" in entry])
        weights.append(torch.cat([p.detach().flatten() for p in trainer.model.parameters()]))

    assert len(histories[0]) == 6
    assert histories[0] == histories[1]
    assert torch.equal(weights[0], weights[1])


def test_training_logs_both_terms(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    trainer = OETrainer(
        model=make_tiny_bert(),
        args=make_args(tmp_path, oe_batch_size=2),
        train_dataset=labelled_dataset,
        processing_class=word_tokenizer,
        outlier_dataset=outlier_dataset,
    )
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]

    assert len(logged) == 6
    for entry in logged:
        assert entry["loss_in"] > 0
        assert entry["loss_oe"] >= np.log(2) - 1e-6  # uniform CE is at least log(C)
        # Trainer's loss is the mean total over the window: loss_in + weight * loss_oe.
        assert entry["loss"] == pytest.approx(entry["loss_in"] + entry["loss_oe"], abs=1e-3)


def test_outlier_batches_cover_corpus_each_pass():
    batches = [outlier_batch_indices(10, 4, seed=7, batch_number=number) for number in range(5)]
    stream = np.concatenate(batches)

    assert all(len(batch) == 4 for batch in batches)
    assert sorted(stream[:10]) == list(range(10))
    assert sorted(stream[10:20]) == list(range(10))
    assert not np.array_equal(stream[:10], stream[10:20])
    np.testing.assert_array_equal(batches[3], outlier_batch_indices(10, 4, seed=7, batch_number=3))


def test_outlier_batches_differ_across_ranks_and_micro_steps(
    tmp_path, word_tokenizer, labelled_dataset, outlier_dataset
):
    trainer = OETrainer(
        model=make_tiny_bert(),
        args=make_args(tmp_path, gradient_accumulation_steps=2),
        train_dataset=labelled_dataset,
        processing_class=word_tokenizer,
        outlier_dataset=outlier_dataset,
    )
    trainer.state.global_step = 3
    numbers = [trainer._outlier_batch_number() for _ in range(2)]
    trainer.state.global_step = 4
    numbers.append(trainer._outlier_batch_number())

    assert numbers == [6, 7, 8]


def test_concatenate_pads_to_longer_batch():
    in_batch = {"input_ids": torch.tensor([[5, 6, 1]]), "attention_mask": torch.tensor([[1, 1, 0]])}
    out_batch = {
        "input_ids": torch.tensor([[7, 8, 9, 4, 2]]),
        "attention_mask": torch.ones(1, 5, dtype=torch.long),
    }

    right = concatenate_batches(in_batch, out_batch, {"input_ids": 1}, "right")
    left = concatenate_batches(in_batch, out_batch, {"input_ids": 1}, "left")

    assert right["input_ids"].tolist() == [[5, 6, 1, 1, 1], [7, 8, 9, 4, 2]]
    assert right["attention_mask"].tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert left["input_ids"].tolist() == [[1, 1, 5, 6, 1], [7, 8, 9, 4, 2]]


def test_evaluate_adds_ood_metrics(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    model = make_tiny_bert(seed=2)
    trainer = OETrainer(
        model=model,
        args=make_args(tmp_path),
        eval_dataset=labelled_dataset,
        processing_class=word_tokenizer,
        ood_eval_datasets={"wiki": outlier_dataset},
    )
    metrics = trainer.evaluate()

    collator = DataCollatorWithPadding(word_tokenizer)
    with torch.no_grad():
        in_batch = collator([labelled_dataset[i] for i in range(len(labelled_dataset))])
        in_batch.pop("labels")
        in_logits = model(**in_batch).logits.double()
        out_logits = model(
            **collator([outlier_dataset[i] for i in range(len(outlier_dataset))])
        ).logits.double()
    in_scores = -torch.softmax(in_logits, -1).max(-1).values.numpy()
    out_scores = -torch.softmax(out_logits, -1).max(-1).values.numpy()
    labels = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    expected = roc_auc_score(labels, np.r_[in_scores, out_scores])

    assert metrics["eval_ood_wiki_auroc"] == pytest.approx(expected, abs=1e-6)
    assert metrics["eval_ood_mean_auroc"] == metrics["eval_ood_wiki_auroc"]
    assert "eval_loss" in metrics


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("oe_weight", -0.5, "`oe_weight` must be >= 0, got -0.5"),
        ("oe_batch_size", 0, "`oe_batch_size` must be a positive integer, got 0"),
        ("oe_loss", "focal", "Unknown `oe_loss`='focal'"),
        ("ood_score", "odin", "Unknown `ood_score`='odin'"),
        ("energy_temperature", 0.0, "`energy_temperature` must be > 0"),
    ],
)
def test_arguments_reject_invalid_values(tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("`", "`")):
        make_args(tmp_path, **{field: value})


def test_rejects_bad_outlier_datasets(tmp_path, word_tokenizer, labelled_dataset, outlier_dataset):
    def build(outliers):
        return OETrainer(
            model=make_tiny_bert(),
            args=make_args(tmp_path),
            train_dataset=labelled_dataset,
            processing_class=word_tokenizer,
            outlier_dataset=outliers,
        )

    with pytest.raises(ValueError, match="`outlier_dataset` is empty"):
        build(outlier_dataset.select([]))
    with pytest.raises(ValueError, match=r"label column\(s\) \['label'\]"):
        build(outlier_dataset.add_column("label", [0] * len(outlier_dataset)))
    with pytest.raises(TypeError, match=r"outlier_dataset=dataset\['train'\]"):
        build(DatasetDict({"train": outlier_dataset}))
    with pytest.raises(ValueError, match="Tokenize it first"):
        build(Dataset.from_dict({"text": ["the river"]}))


def test_rejects_plain_training_arguments(tmp_path, labelled_dataset):
    with pytest.raises(TypeError, match="must be an `OETrainingArguments`"):
        OETrainer(
            model=make_tiny_bert(),
            args=TrainingArguments(str(tmp_path), report_to="none"),
            train_dataset=labelled_dataset,
        )


def test_predict_logits_keep_dataset_order(tmp_path, word_tokenizer, labelled_dataset):
    """Length-grouped training must not reorder predictions, which would misalign OOD scores."""
    model = make_tiny_bert(seed=4)
    args = make_args(tmp_path, train_sampling_strategy="group_by_length", per_device_eval_batch_size=4)
    trainer = OETrainer(model=model, args=args, processing_class=word_tokenizer)

    logits = trainer.predict_logits(labelled_dataset)

    with torch.no_grad():
        expected = [
            model(input_ids=torch.tensor([row["input_ids"]])).logits[0].numpy() for row in labelled_dataset
        ]
    np.testing.assert_allclose(logits, np.stack(expected), atol=1e-5)


def test_energy_loss_defaults_to_liu_weight(tmp_path):
    assert make_args(tmp_path, oe_loss="energy").oe_weight == 0.1
    assert make_args(tmp_path).oe_weight == 1.0
    assert make_args(tmp_path, oe_loss="energy", oe_weight=0.5).oe_weight == 0.5


def test_rejects_bad_ood_eval_datasets(tmp_path, word_tokenizer, outlier_dataset):
    def build(ood_sets):
        return OETrainer(
            model=make_tiny_bert(),
            args=make_args(tmp_path),
            processing_class=word_tokenizer,
            ood_eval_datasets=ood_sets,
        )

    with pytest.raises(TypeError, match="must be a dict of name -> dataset, got list"):
        build([outlier_dataset])
    with pytest.raises(ValueError, match="OOD set 'wiki' in `ood_eval_datasets` is empty"):
        build({"wiki": outlier_dataset.select([])})
    with pytest.raises(ValueError, match="OOD set 'raw' has no model inputs"):
        build({"raw": Dataset.from_dict({"text": ["a city"]})})
