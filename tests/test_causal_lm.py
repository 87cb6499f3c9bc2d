"""Outlier Exposure for causal language models: the token-level losses, sequence scores and OETrainer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from sklearn.metrics import roc_auc_score
from transformers import DataCollatorForLanguageModeling, GPT2Config, GPT2LMHeadModel, Trainer

from oe_nlp.losses import causal_lm_oe_losses, chunked_logsumexp, outlier_exposure_loss
from oe_nlp.scores import lm_sequence_scores
from oe_nlp.trainer import OETrainer, OETrainingArguments, outlier_batch_indices

from .conftest import WORDS, make_tiny_bert

IN_TEXTS = ["the good movie", "a bad film the movie", "great movie", "the awful film a good movie"] * 3
OUT_TEXTS = ["river city king", "the king", "city river the king a river", "a river"]
OOD_TEXTS = ["king river city", "river river king", "city king the"]


def float64_next_token_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean of -log softmax(z_t)[labels[t + 1]] over positions whose target is not -100, by loops."""
    total, count = 0.0, 0
    for row in range(labels.shape[0]):
        for t in range(labels.shape[1] - 1):
            target = labels[row, t + 1]
            if target == -100:
                continue
            z = logits[row, t]
            total += math.log(np.exp(z - z.max()).sum()) + z.max() - z[target]
            count += 1
    return total / count


def float64_uniform_ce(logits: np.ndarray, mask: np.ndarray) -> float:
    """Mean of logsumexp(z_t) - mean(z_t) over positions t whose next token is real (mask[t + 1] == 1)."""
    values = [
        math.log(np.exp(logits[row, t]).sum()) - logits[row, t].mean()
        for row in range(mask.shape[0])
        for t in range(mask.shape[1] - 1)
        if mask[row, t + 1] == 1
    ]
    return float(np.mean(values))


# ---- The loss on logits ----


def test_causal_lm_losses_match_float64_loops_with_padding():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 6, 11, generator=generator, dtype=torch.float64) * 3
    in_labels = torch.randint(0, 11, (3, 6), generator=generator)
    in_labels[0, 4:] = -100
    in_labels[2, 2:] = -100
    out_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])

    loss_in, loss_oe = causal_lm_oe_losses(logits, in_labels, out_mask, chunk_rows=7)

    assert loss_in.item() == pytest.approx(
        float64_next_token_loss(logits[:3].numpy(), in_labels.numpy()), abs=1e-5
    )
    assert loss_oe.item() == pytest.approx(float64_uniform_ce(logits[3:].numpy(), out_mask.numpy()), abs=1e-5)


def test_causal_lm_loss_gradients_match_log_softmax():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 5, 9, generator=generator, requires_grad=True)
    in_labels = torch.randint(0, 9, (2, 5), generator=generator)
    in_labels[1, 3:] = -100
    out_mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])

    loss_in, loss_oe = causal_lm_oe_losses(logits, in_labels, out_mask, chunk_rows=3)
    (loss_in + 0.5 * loss_oe).backward()
    chunked_grad = logits.grad.clone()

    logits.grad = None
    reference_in = F.cross_entropy(
        logits[:2, :-1].reshape(-1, 9), in_labels[:, 1:].reshape(-1), ignore_index=-100
    )
    reference_oe = outlier_exposure_loss(logits[2:, :-1], mask=out_mask[:, 1:])
    (reference_in + 0.5 * reference_oe).backward()

    torch.testing.assert_close(chunked_grad, logits.grad, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("chunk_rows", [1, 4, 7, 1000])
def test_chunked_logsumexp_equals_logsumexp(chunk_rows):
    logits = torch.randn(3, 7, 13, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 20
    expected = torch.logsumexp(logits, dim=-1)
    torch.testing.assert_close(chunked_logsumexp(logits, chunk_rows).double(), expected, atol=1e-4, rtol=1e-6)


def test_causal_lm_losses_reject_a_part_without_predictions():
    logits = torch.randn(2, 3, 5)
    with pytest.raises(ValueError, match="outlier"):
        causal_lm_oe_losses(logits, torch.tensor([[1, 2, 3]]), torch.tensor([[1, 0, 0]]))
    with pytest.raises(ValueError, match="in-distribution"):
        causal_lm_oe_losses(logits, torch.tensor([[1, -100, -100]]), torch.tensor([[1, 1, 1]]))


# ---- Sequence scores ----


def test_lm_sequence_scores_match_float64_loops():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 5, 7, generator=generator, dtype=torch.float64) * 2
    labels = torch.randint(0, 7, (3, 5), generator=generator)
    labels[1, 2:] = -100

    scores = lm_sequence_scores(logits, labels)

    z, y = logits.numpy(), labels.numpy()
    for row in range(3):
        kept = [t for t in range(4) if y[row, t + 1] != -100]
        lse = [math.log(np.exp(z[row, t]).sum()) for t in kept]
        nll = np.mean([lse[i] - z[row, t, y[row, t + 1]] for i, t in enumerate(kept)])
        uniform = np.mean([z[row, t].mean() - lse[i] for i, t in enumerate(kept)])
        msp = np.mean([-np.exp(z[row, t]).max() / np.exp(z[row, t]).sum() for t in kept])
        assert scores["nll"][row].item() == pytest.approx(nll, abs=1e-12)
        assert scores["uniform_cross_entropy"][row].item() == pytest.approx(uniform, abs=1e-12)
        assert scores["msp"][row].item() == pytest.approx(msp, abs=1e-12)


def test_lm_sequence_scores_reject_a_sequence_without_targets():
    labels = torch.tensor([[1, 2, 3], [4, -100, -100]])
    with pytest.raises(ValueError, match=r"Sequences \[1\]"):
        lm_sequence_scores(torch.randn(2, 3, 6), labels)


# ---- OETrainer on a tiny GPT-2 ----


def make_tiny_gpt2(seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(WORDS), n_positions=16, n_embd=8, n_layer=1, n_head=2, pad_token_id=1,
        bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


def lm_dataset(tokenizer, texts: list[str]) -> Dataset:
    encoded = tokenizer(texts)
    return Dataset.from_dict({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})


def lm_args(tmp_path, **overrides) -> OETrainingArguments:
    settings = {
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 4,
        "num_train_epochs": 1,
        "learning_rate": 1e-2,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 5,
        "use_cpu": True,
        "oe_batch_size": 2,
    }
    settings.update(overrides)
    return OETrainingArguments(**settings)


def lm_trainer(tmp_path, tokenizer, model, **overrides) -> OETrainer:
    return OETrainer(
        model=model,
        args=lm_args(tmp_path, **overrides),
        train_dataset=lm_dataset(tokenizer, IN_TEXTS),
        eval_dataset=lm_dataset(tokenizer, IN_TEXTS[:4]),
        processing_class=tokenizer,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        outlier_dataset=lm_dataset(tokenizer, OUT_TEXTS),
        ood_eval_datasets={"kings": lm_dataset(tokenizer, OOD_TEXTS)},
    )


def test_first_step_loss_matches_float64_reference(tmp_path, word_tokenizer):
    model = make_tiny_gpt2()
    trainer = lm_trainer(tmp_path, word_tokenizer, model, oe_weight=0.7)
    assert trainer.oe_task == "causal_lm"
    in_features = [trainer.train_dataset[index] for index in range(3)]
    batch = trainer._prepare_inputs(trainer.data_collator(in_features))
    model.train()

    loss = trainer.compute_loss(model, batch).item()

    indices = outlier_batch_indices(len(trainer.outlier_dataset), 2, seed=5, batch_number=0)
    out_batch = trainer.data_collator([trainer.outlier_dataset[int(index)] for index in indices])
    in_batch = trainer.data_collator(in_features)
    with torch.no_grad():
        in_logits = model(input_ids=in_batch["input_ids"], attention_mask=in_batch["attention_mask"]).logits
        out_logits = model(
            input_ids=out_batch["input_ids"], attention_mask=out_batch["attention_mask"]
        ).logits
    expected = float64_next_token_loss(in_logits.double().numpy(), in_batch["labels"].numpy())
    expected += 0.7 * float64_uniform_ce(out_logits.double().numpy(), out_batch["attention_mask"].numpy())
    assert loss == pytest.approx(expected, abs=1e-5)


def test_training_with_zero_weight_equals_trainer(tmp_path, word_tokenizer):
    oe_model, plain_model = make_tiny_gpt2(), make_tiny_gpt2()
    # transformers 5.25 infers the loss type from the class name, which fails for `GPT2LMHeadModel`. Its
    # Trainer then counts position 0 as a target, so it divides the summed loss by too many tokens.
    plain_model.loss_type = "ForCausalLM"
    # SGD: Adam would magnify float noise in gradients that are exactly zero in theory (attention key biases).
    lm_trainer(
        tmp_path / "oe", word_tokenizer, oe_model, oe_weight=0.0, optim="sgd", learning_rate=0.5
    ).train()
    Trainer(
        model=plain_model,
        args=lm_args(tmp_path / "plain", optim="sgd", learning_rate=0.5),
        train_dataset=lm_dataset(word_tokenizer, IN_TEXTS),
        data_collator=DataCollatorForLanguageModeling(word_tokenizer, mlm=False),
    ).train()

    for (name, oe_weight), plain_weight in zip(oe_model.named_parameters(), plain_model.parameters()):
        torch.testing.assert_close(oe_weight, plain_weight, atol=1e-6, rtol=1e-5, msg=name)


def outlier_uniform_ce(model, tokenizer) -> float:
    batch = DataCollatorForLanguageModeling(tokenizer, mlm=False)(
        [{"input_ids": ids} for ids in tokenizer(OUT_TEXTS)["input_ids"]]
    )
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return -float(lm_sequence_scores(logits.double(), batch["labels"])["uniform_cross_entropy"].mean())


def test_outlier_exposure_keeps_outlier_predictions_near_uniform(tmp_path, word_tokenizer):
    trained = {}
    for weight in (0.0, 1.0):
        model = make_tiny_gpt2()
        trainer = lm_trainer(
            tmp_path / str(weight),
            word_tokenizer,
            model,
            oe_weight=weight,
            num_train_epochs=8,
            learning_rate=0.05,
        )
        trainer.train()
        trained[weight] = outlier_uniform_ce(model, word_tokenizer)
        logs = [entry for entry in trainer.state.log_history if "loss_oe" in entry]
        assert len(logs) == 24
        assert min(entry["loss_oe"] for entry in logs) >= math.log(len(WORDS)) - 1e-5

    # The uniform cross-entropy is log(V) for a uniform softmax and grows as predictions sharpen. Measured:
    # 1.96 above log(V) without the outlier term, 0.21 with it.
    assert trained[1.0] - math.log(len(WORDS)) < 0.25 * (trained[0.0] - math.log(len(WORDS)))


def test_evaluate_reports_perplexity_and_nll_auroc(tmp_path, word_tokenizer):
    model = make_tiny_gpt2(seed=2)
    trainer = lm_trainer(tmp_path, word_tokenizer, model, ood_score="nll")

    metrics = trainer.evaluate()

    assert metrics["eval_perplexity"] == pytest.approx(math.exp(metrics["eval_loss"]))
    collator = DataCollatorForLanguageModeling(word_tokenizer, mlm=False)
    model.eval()
    nll = {}
    for name, texts in {"in": IN_TEXTS[:4], "ood": OOD_TEXTS}.items():
        batch = collator([{"input_ids": ids} for ids in word_tokenizer(texts)["input_ids"]])
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        nll[name] = lm_sequence_scores(logits.double(), batch["labels"])["nll"].numpy()
    expected = roc_auc_score([0] * 4 + [1] * 3, np.concatenate([nll["in"], nll["ood"]]))
    assert metrics["eval_ood_kings_auroc"] == pytest.approx(expected)


def test_task_detection_and_its_errors(tmp_path, word_tokenizer, labelled_dataset):
    classifier = OETrainer(model=make_tiny_bert(), args=lm_args(tmp_path), train_dataset=labelled_dataset)
    assert classifier.oe_task == "classification"

    assert (
        lm_trainer(tmp_path, word_tokenizer, make_tiny_gpt2(), ood_score="uniform_cross_entropy").oe_task
        == "causal_lm"
    )
    with pytest.raises(ValueError, match="not defined for language models"):
        lm_trainer(tmp_path, word_tokenizer, make_tiny_gpt2(), oe_loss="energy")
    with pytest.raises(ValueError, match="no per-sequence form"):
        lm_trainer(tmp_path, word_tokenizer, make_tiny_gpt2(), ood_score="energy")
    with pytest.raises(ValueError, match="needs a causal language model"):
        OETrainer(
            model=make_tiny_bert(), args=lm_args(tmp_path, ood_score="nll"), train_dataset=labelled_dataset
        )
    with pytest.raises(ValueError, match="Unknown `oe_task`"):
        lm_args(tmp_path, oe_task="seq2seq")
