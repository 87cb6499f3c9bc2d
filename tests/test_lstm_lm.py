"""Tests for the LSTM language model: shifted loss, padding, weight tying, save/load, training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, DataCollatorForLanguageModeling

import oe_nlp.models  # noqa: F401  (registers the model with the Auto classes)
from oe_nlp.data import load_lm_datasets
from oe_nlp.models import LSTMForCausalLM, LSTMLMConfig

from .conftest import FIXTURE_DATA

VOCAB_SIZE = 11
PAD_ID = 1


@pytest.fixture(autouse=True)
def _one_thread():
    # The tensors here are tiny. On a busy 2-core machine, two intra-op threads made the Adam test
    # take about 20 s instead of 0.3 s.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_model(
    seed: int = 0, num_layers: int = 1, tie: bool = True, dropout: float = 0.0
) -> LSTMForCausalLM:
    torch.manual_seed(seed)
    config = LSTMLMConfig(
        vocab_size=VOCAB_SIZE,
        embedding_size=6,
        hidden_size=6 if tie else 5,
        num_layers=num_layers,
        dropout=dropout,
        tie_word_embeddings=tie,
        pad_token_id=PAD_ID,
        eos_token_id=2,
    )
    return LSTMForCausalLM(config).eval()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _float64_lstm_logits(model: LSTMForCausalLM, ids: list[int]) -> np.ndarray:
    """Run a 1-layer LSTM and the decoder in float64 from the model's weights, starting from zero state."""
    weights = {name: tensor.detach().double().numpy() for name, tensor in model.state_dict().items()}
    hidden_size = model.config.hidden_size
    h = np.zeros(hidden_size)
    c = np.zeros(hidden_size)
    logits = []

    for token in ids:
        x = weights["embed_tokens.weight"][token]
        gates = weights["lstm.weight_ih_l0"] @ x + weights["lstm.bias_ih_l0"]
        gates += weights["lstm.weight_hh_l0"] @ h + weights["lstm.bias_hh_l0"]
        i, f, g, o = np.split(gates, 4)  # torch's gate order: input, forget, cell, output
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        logits.append(weights["decoder.weight"] @ h + weights["decoder.bias"])

    return np.stack(logits)


def _float64_shifted_ce(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean of -log softmax(logits[b, t])[labels[b, t + 1]] over targets that are not -100."""
    losses = []
    for row_logits, row_labels in zip(logits, labels, strict=True):
        for t in range(len(row_labels) - 1):
            target = row_labels[t + 1]
            if target == -100:
                continue
            shifted = row_logits[t] - row_logits[t].max()
            losses.append(math.log(np.exp(shifted).sum()) - shifted[target])
    return float(np.mean(losses))


# --------------------------------------------------------------------------- forward and loss


def test_logits_match_float64_lstm() -> None:
    model = _tiny_model()
    ids = [3, 7, 2, 9, 4]

    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double().numpy()

    np.testing.assert_allclose(logits, _float64_lstm_logits(model, ids), rtol=0, atol=1e-5)


def test_loss_is_shifted_ce_over_kept_tokens() -> None:
    model = _tiny_model()
    input_ids = torch.tensor([[3, 7, 2, 9, 4], [5, 6, 8, PAD_ID, PAD_ID]])
    labels = input_ids.clone()
    labels[1, 3:] = -100

    with torch.no_grad():
        output = model(input_ids=input_ids, attention_mask=(labels != -100).long(), labels=labels)

    logits64 = np.stack([_float64_lstm_logits(model, row) for row in input_ids.tolist()])
    expected = _float64_shifted_ce(logits64, labels.numpy())

    # 4 targets in row 0 and 2 in row 1: the mean is over 6 tokens, not over rows.
    assert output.loss.item() == pytest.approx(expected, abs=1e-5)
    assert output.logits.shape == (2, 5, VOCAB_SIZE)


def test_right_padding_keeps_logits() -> None:
    model = _tiny_model(num_layers=2)
    alone = torch.tensor([[4, 8, 3]])
    batch = torch.tensor([[4, 8, 3, PAD_ID, PAD_ID], [5, 6, 7, 9, 10]])
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])

    with torch.no_grad():
        logits_alone = model(input_ids=alone).logits
        logits_batch = model(input_ids=batch, attention_mask=mask).logits
        logits_again = model(input_ids=alone).logits

    torch.testing.assert_close(logits_batch[0, :3], logits_alone[0], rtol=0, atol=1e-6)
    # A fresh zero state on each call: running another batch in between changes nothing.
    torch.testing.assert_close(logits_again, logits_alone, rtol=0, atol=0)


def test_return_tuple() -> None:
    model = _tiny_model()
    input_ids = torch.tensor([[3, 4, 5]])

    loss, logits = model(input_ids=input_ids, labels=input_ids, return_dict=False)
    (logits_only,) = model(input_ids=input_ids, return_dict=False)

    torch.testing.assert_close(logits, logits_only)
    assert loss.ndim == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"attention_mask": torch.tensor([[0, 1, 1]])}, ValueError, "needs right padding"),
        ({"attention_mask": torch.tensor([[1, 1]])}, ValueError, "attention_mask has shape"),
        ({"labels": torch.tensor([[3, -100, -100]])}, ValueError, "keeps no target token"),
        ({"labels": torch.tensor([[3, 4, 11]])}, ValueError, r"labels contains \[11\]"),
        ({"labels": torch.tensor([[3.0, 4.0, 5.0]])}, TypeError, "integer dtype"),
        ({"labels": torch.tensor([[3, 4]])}, ValueError, "labels must have the shape"),
    ],
)
def test_forward_bad_input(kwargs: dict, error: type, message: str) -> None:
    model = _tiny_model()

    with pytest.raises(error, match=message):
        model(input_ids=torch.tensor([[3, 4, 5]]), **kwargs)


def test_forward_rejects_out_of_vocabulary_id() -> None:
    with pytest.raises(ValueError, match="input_ids contains token id 11"):
        _tiny_model()(input_ids=torch.tensor([[3, 11]]))


def test_trainer_contract() -> None:
    model = _tiny_model()

    assert LSTMForCausalLM.accepts_loss_kwargs is False
    assert model.can_generate() is False


# --------------------------------------------------------------------------- config, tying, save/load


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"embedding_size": 8, "hidden_size": 6},
            "tie_word_embeddings=True needs embedding_size == hidden_size",
        ),
        ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\)"),
        ({"vocab_size": 10, "pad_token_id": 10}, r"pad_token_id must be an integer in \[0, vocab_size=10\)"),
        ({"num_layers": 0}, "num_layers must be a positive integer"),
    ],
)
def test_config_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LSTMLMConfig(**kwargs)


def test_untied_config_allows_different_sizes() -> None:
    model = _tiny_model(tie=False)

    assert model.decoder.weight.shape == (VOCAB_SIZE, 5)
    assert model.decoder.weight is not model.embed_tokens.weight


def test_tied_weights_share_storage() -> None:
    model = _tiny_model()

    assert model.decoder.weight is model.embed_tokens.weight


@pytest.mark.parametrize("tie", [True, False])
def test_save_load_round_trip(tie: bool, tmp_path: Path) -> None:
    model = _tiny_model(seed=3, num_layers=2, tie=tie, dropout=0.25)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()

    assert type(loaded) is LSTMForCausalLM
    assert isinstance(AutoConfig.from_pretrained(tmp_path), LSTMLMConfig)
    for key in (
        "vocab_size",
        "embedding_size",
        "hidden_size",
        "num_layers",
        "dropout",
        "tie_word_embeddings",
    ):
        assert getattr(loaded.config, key) == getattr(model.config, key), key
    assert (loaded.config.pad_token_id, loaded.config.eos_token_id) == (PAD_ID, 2)

    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0, msg=name)

    assert (loaded.decoder.weight is loaded.embed_tokens.weight) is tie


def test_tied_weights_stay_tied_after_training(tmp_path: Path) -> None:
    model = _tiny_model()
    model.save_pretrained(tmp_path)
    loaded = LSTMForCausalLM.from_pretrained(tmp_path).train()
    optimizer = torch.optim.SGD(loaded.parameters(), lr=0.5)
    input_ids = torch.tensor([[3, 4, 5, 6]])

    loaded(input_ids=input_ids, labels=input_ids).loss.backward()
    optimizer.step()

    assert loaded.decoder.weight is loaded.embed_tokens.weight
    assert not torch.equal(loaded.embed_tokens.weight, model.embed_tokens.weight)


# --------------------------------------------------------------------------- training


def test_adam_steps_lower_loss() -> None:
    model = _tiny_model(seed=1).train()
    input_ids = torch.tensor([[3, 4, 5, 6, 7, 8], [9, 10, 3, 4, 5, PAD_ID]])
    labels = input_ids.masked_fill(input_ids == PAD_ID, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)

    def float64_loss() -> float:
        with torch.no_grad():
            logits = model(input_ids=input_ids).logits.double().numpy()
        return _float64_shifted_ce(logits, labels.numpy())

    loss_before = float64_loss()
    for _ in range(80):
        optimizer.zero_grad()
        model(input_ids=input_ids, labels=labels).loss.backward()
        optimizer.step()
    loss_after = float64_loss()

    # The loss starts near ln(11) = 2.40. After 80 steps the 9 targets of this batch are nearly memorised.
    assert abs(loss_before - math.log(VOCAB_SIZE)) < 0.3
    assert loss_after < 0.3


def test_collated_ptb_windows() -> None:
    splits, tokenizer = load_lm_datasets(FIXTURE_DATA, "word", seq_len=20)
    config = LSTMLMConfig(
        vocab_size=len(tokenizer),
        embedding_size=8,
        hidden_size=8,
        num_layers=1,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = LSTMForCausalLM(config).eval()
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    last_two = [splits["train"][index] for index in (len(splits["train"]) - 2, len(splits["train"]) - 1)]
    batch = collator(last_two)

    short_length = len(last_two[1]["input_ids"])
    assert short_length < 21
    assert batch["labels"][1, short_length:].eq(-100).all()
    assert batch["input_ids"][1, short_length:].eq(tokenizer.pad_token_id).all()

    with torch.no_grad():
        output = model(**batch)
    expected = _float64_shifted_ce(output.logits.double().numpy(), batch["labels"].numpy())
    assert output.loss.item() == pytest.approx(expected, abs=1e-5)
