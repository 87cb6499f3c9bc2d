"""Tests for the recurrent classifier and the word-level tokenizer in `oe_nlp.models`."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedTokenizerFast,
    Trainer,
    TrainingArguments,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from oe_nlp.models import RecurrentClassifierConfig, RecurrentForSequenceClassification, build_word_tokenizer

VOCAB_SIZE = 20
PAD_ID = 1
CELLS = ["gru", "lstm"]

# Token ids of four sequences with different lengths, all in [2, VOCAB_SIZE).
SEQUENCES = [
    [4, 9, 2],
    [7, 3, 3, 12, 19, 5],
    [8],
    [15, 2, 11, 6],
]

CORPUS = [
    "the cat sat on the mat",
    "the dog sat",
    "a cat <unk> ran",
]


def make_model(cell: str = "gru", num_labels: int = 3, num_layers: int = 2, seed: int = 0):
    """Build a tiny recurrent classifier in eval mode with a fixed seed."""
    torch.manual_seed(seed)
    config = RecurrentClassifierConfig(
        vocab_size=VOCAB_SIZE,
        embedding_dim=4,
        hidden_size=5,
        num_layers=num_layers,
        cell=cell,
        num_labels=num_labels,
        pad_token_id=PAD_ID,
    )
    return RecurrentForSequenceClassification(config).eval()


def pad_batch(sequences: list[list[int]], side: str, pad_value: int = PAD_ID):
    """Pad `sequences` to the longest one on `side` and return `(input_ids, attention_mask)`."""
    max_length = max(len(sequence) for sequence in sequences)
    rows, masks = [], []

    for sequence in sequences:
        padding = [pad_value] * (max_length - len(sequence))
        mask_padding = [0] * len(padding)
        ones = [1] * len(sequence)
        if side == "right":
            rows.append(sequence + padding)
            masks.append(ones + mask_padding)
        else:
            rows.append(padding + sequence)
            masks.append(mask_padding + ones)

    return torch.tensor(rows), torch.tensor(masks)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.exp(-x))


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    """One GRU step from the gate equations in the torch.nn.GRU documentation, gates (r, z, n)."""
    gates_x = w_ih @ x + b_ih
    gates_h = w_hh @ h + b_hh
    x_r, x_z, x_n = gates_x.chunk(3)
    h_r, h_z, h_n = gates_h.chunk(3)

    reset = sigmoid(x_r + h_r)
    update = sigmoid(x_z + h_z)
    candidate = torch.tanh(x_n + reset * h_n)

    return (1.0 - update) * candidate + update * h


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step from the gate equations in the torch.nn.LSTM documentation, gates (i, f, g, o)."""
    gates = w_ih @ x + b_ih + w_hh @ h + b_hh
    g_i, g_f, g_g, g_o = gates.chunk(4)

    cell_state = sigmoid(g_f) * c + sigmoid(g_i) * torch.tanh(g_g)
    hidden = sigmoid(g_o) * torch.tanh(cell_state)

    return hidden, cell_state


def reference_logits(model: RecurrentForSequenceClassification, token_ids: list[int]) -> torch.Tensor:
    """Recompute one sequence's logits step by step in float64 from the model's weights."""
    params = {name: value.detach().to(torch.float64) for name, value in model.named_parameters()}
    config = model.config
    layer_inputs = [params["embed_tokens.weight"][token] for token in token_ids]

    for layer in range(config.num_layers):
        w_ih, w_hh = params[f"rnn.weight_ih_l{layer}"], params[f"rnn.weight_hh_l{layer}"]
        b_ih, b_hh = params[f"rnn.bias_ih_l{layer}"], params[f"rnn.bias_hh_l{layer}"]
        h = torch.zeros(config.hidden_size, dtype=torch.float64)
        c = torch.zeros(config.hidden_size, dtype=torch.float64)
        outputs = []
        for x in layer_inputs:
            if config.cell == "gru":
                h = gru_step(x, h, w_ih, w_hh, b_ih, b_hh)
            else:
                h, c = lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh)
            outputs.append(h)
        layer_inputs = outputs

    return params["classifier.weight"] @ h + params["classifier.bias"]


def assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float = 1e-6) -> None:
    torch.testing.assert_close(actual, expected.to(actual.dtype), atol=atol, rtol=0.0)


# ---------------------------------------------------------------------------------------------
# Model: padding invariance and the reference forward pass
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_logits_equal_alone(cell: str, side: str) -> None:
    model = make_model(cell)
    input_ids, attention_mask = pad_batch(SEQUENCES, side)

    with torch.no_grad():
        batch_logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        for row, sequence in enumerate(SEQUENCES):
            alone = model(input_ids=torch.tensor([sequence])).logits[0]
            assert_close(batch_logits[row], alone)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_dense_and_packed_paths_agree(cell: str, side: str) -> None:
    model = make_model(cell)
    input_ids, attention_mask = pad_batch(SEQUENCES, side)

    logits = {}
    for share in (0.0, 2.0):  # 0.0: always run on the padded batch; 2.0: always pack
        model.dense_batch_share = share
        with torch.no_grad():
            logits[share] = model(input_ids=input_ids, attention_mask=attention_mask).logits

    assert_close(logits[0.0], logits[2.0])


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_read_from_mask_not_ids(side: str) -> None:
    # Pad with an ordinary word id: only the attention mask may mark padding.
    model = make_model("gru")
    ids_padded_with_pad, mask = pad_batch(SEQUENCES, side, pad_value=PAD_ID)
    ids_padded_with_word, same_mask = pad_batch(SEQUENCES, side, pad_value=13)

    with torch.no_grad():
        expected = model(input_ids=ids_padded_with_pad, attention_mask=mask).logits
        actual = model(input_ids=ids_padded_with_word, attention_mask=same_mask).logits

    assert torch.equal(mask, same_mask)
    assert_close(actual, expected)


def test_padding_changes_logits_without_mask() -> None:
    # Guards the padding tests: without a mask the padding is read as tokens and the logits move.
    model = make_model("gru")
    input_ids, _ = pad_batch(SEQUENCES, "right")

    with torch.no_grad():
        unmasked = model(input_ids=input_ids).logits[0]
        alone = model(input_ids=torch.tensor([SEQUENCES[0]])).logits[0]

    assert (unmasked - alone).abs().max() > 1e-4


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_logits_match_float64_reference(cell: str, side: str) -> None:
    model = make_model(cell).to(torch.float64)
    input_ids, attention_mask = pad_batch(SEQUENCES, side)

    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits

    assert logits.dtype == torch.float64
    for row, sequence in enumerate(SEQUENCES):
        assert_close(logits[row], reference_logits(model, sequence), atol=1e-12)


def test_single_layer_lstm_matches_reference() -> None:
    model = make_model("lstm", num_layers=1).to(torch.float64)

    with torch.no_grad():
        logits = model(input_ids=torch.tensor([SEQUENCES[1]])).logits[0]

    assert_close(logits, reference_logits(model, SEQUENCES[1]), atol=1e-12)


def test_mask_of_ones_equals_no_mask() -> None:
    model = make_model("gru")
    input_ids = torch.tensor([SEQUENCES[1], SEQUENCES[1][::-1]])

    with torch.no_grad():
        without_mask = model(input_ids=input_ids).logits
        with_mask = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits

    assert_close(with_mask, without_mask)


def test_int32_ids_and_bool_mask_accepted() -> None:
    model = make_model("gru")
    input_ids, attention_mask = pad_batch(SEQUENCES, "left")

    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention_mask).logits
        actual = model(input_ids=input_ids.to(torch.int32), attention_mask=attention_mask.bool()).logits

    assert_close(actual, expected)


# ---------------------------------------------------------------------------------------------
# Model: loss and outputs
# ---------------------------------------------------------------------------------------------


def test_loss_is_mean_cross_entropy() -> None:
    model = make_model("gru", num_labels=3)
    input_ids, attention_mask = pad_batch(SEQUENCES, "right")
    labels = torch.tensor([2, 0, 1, 1])

    with torch.no_grad():
        output = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)

    logits = output.logits.to(torch.float64)
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    expected = -sum(log_probs[row, label] for row, label in enumerate(labels.tolist())) / len(labels)

    assert isinstance(output, SequenceClassifierOutput)
    assert output.logits.shape == (4, 3)
    assert math.isclose(output.loss.item(), expected.item(), rel_tol=0.0, abs_tol=1e-6)


def test_loss_skips_ignore_index() -> None:
    model = make_model("gru", num_labels=3)
    input_ids, attention_mask = pad_batch(SEQUENCES, "right")
    labels = torch.tensor([2, -100, 1, -100])

    with torch.no_grad():
        output = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)

    logits = output.logits.to(torch.float64)
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    expected = -(log_probs[0, 2] + log_probs[2, 1]) / 2

    assert math.isclose(output.loss.item(), expected.item(), rel_tol=0.0, abs_tol=1e-6)


def test_loss_absent_without_labels() -> None:
    model = make_model("gru")

    with torch.no_grad():
        output = model(input_ids=torch.tensor([SEQUENCES[0]]))

    assert output.loss is None


def test_return_dict_false_gives_tuple() -> None:
    model = make_model("gru", num_labels=3)
    input_ids, attention_mask = pad_batch(SEQUENCES, "right")
    labels = torch.tensor([2, 0, 1, 1])

    with torch.no_grad():
        as_dict = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        as_tuple = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, return_dict=False)
        logits_only = model(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)

    assert len(as_tuple) == 2
    assert torch.equal(as_tuple[0], as_dict.loss)
    assert torch.equal(as_tuple[1], as_dict.logits)
    assert len(logits_only) == 1
    assert torch.equal(logits_only[0], as_dict.logits)


def test_gradients_skip_padding_row() -> None:
    model = make_model("gru").train()
    input_ids, attention_mask = pad_batch(SEQUENCES, "right")

    output = model(input_ids=input_ids, attention_mask=attention_mask, labels=torch.tensor([0, 1, 2, 0]))
    output.loss.backward()

    embedding_grad = model.embed_tokens.weight.grad
    assert torch.count_nonzero(embedding_grad[PAD_ID]) == 0
    assert torch.count_nonzero(embedding_grad[SEQUENCES[0][0]]) > 0
    assert torch.count_nonzero(model.rnn.weight_hh_l0.grad) > 0


def test_trainer_does_not_pass_loss_kwargs(tmp_path: Path) -> None:
    # A forward with **kwargs would make the Trainer pass num_items_in_batch and change loss scaling.
    model = make_model("gru")
    parameters = inspect.signature(model.forward).parameters.values()
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    trainer = Trainer(model=model, args=args)

    assert RecurrentForSequenceClassification.accepts_loss_kwargs is False
    assert all(parameter.kind != inspect.Parameter.VAR_KEYWORD for parameter in parameters)
    assert trainer.model_accepts_loss_kwargs is False
    assert trainer.label_names == ["labels"]


# ---------------------------------------------------------------------------------------------
# Model: initialization, save and load, Auto classes
# ---------------------------------------------------------------------------------------------


def test_post_init_keeps_pytorch_default_init() -> None:
    # transformers' default `_init_weights` would give embeddings std 0.02 and zero biases.
    model = make_model("gru")
    hidden_bound = 1.0 / math.sqrt(model.config.hidden_size)
    embedding = model.embed_tokens.weight.detach()
    non_padding_rows = torch.cat([embedding[:PAD_ID], embedding[PAD_ID + 1 :]])

    assert torch.count_nonzero(embedding[PAD_ID]) == 0
    assert 0.5 < non_padding_rows.std().item() < 1.5
    assert torch.count_nonzero(model.classifier.bias) == model.config.num_labels
    assert model.classifier.weight.abs().max().item() <= hidden_bound
    assert model.classifier.bias.abs().max().item() <= hidden_bound
    for name, parameter in model.rnn.named_parameters():
        assert parameter.abs().max().item() <= hidden_bound, name
        assert torch.count_nonzero(parameter) == parameter.numel(), name


@pytest.mark.parametrize("cell", CELLS)
def test_save_load_round_trip(cell: str, tmp_path: Path) -> None:
    model = make_model(cell, num_labels=3)
    model.save_pretrained(tmp_path)
    loaded = RecurrentForSequenceClassification.from_pretrained(tmp_path)
    input_ids, attention_mask = pad_batch(SEQUENCES, "left")

    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention_mask).logits
        actual = loaded(input_ids=input_ids, attention_mask=attention_mask).logits

    assert (tmp_path / "model.safetensors").is_file()
    assert (tmp_path / "config.json").is_file()
    assert loaded.training is False
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    # Weights loaded from a memory-mapped file may take other SIMD paths, so compare with a tolerance.
    assert_close(actual, expected)


def test_config_round_trip(tmp_path: Path) -> None:
    config = RecurrentClassifierConfig(
        vocab_size=VOCAB_SIZE,
        embedding_dim=4,
        hidden_size=5,
        num_layers=3,
        cell="lstm",
        dropout=0.25,
        id2label={0: "negative", 1: "neutral", 2: "positive"},
        pad_token_id=PAD_ID,
    )
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)

    loaded_values = loaded.to_dict()
    saved_values = config.to_dict()
    loaded_values.pop("_name_or_path")
    saved_values.pop("_name_or_path")

    assert type(loaded) is RecurrentClassifierConfig
    assert loaded_values == saved_values
    assert loaded.num_labels == 3
    assert loaded.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    assert (loaded.vocab_size, loaded.embedding_dim, loaded.hidden_size) == (VOCAB_SIZE, 4, 5)
    assert (loaded.num_layers, loaded.cell, loaded.dropout, loaded.pad_token_id) == (3, "lstm", 0.25, PAD_ID)


def test_config_defaults() -> None:
    config = RecurrentClassifierConfig()

    assert config.model_type == "oe_recurrent_classifier"
    assert (config.vocab_size, config.embedding_dim, config.hidden_size) == (10002, 50, 128)
    assert (config.num_layers, config.cell, config.dropout) == (2, "gru", 0.0)
    assert (config.num_labels, config.pad_token_id) == (2, 1)


def test_auto_model_loads_our_class(tmp_path: Path) -> None:
    model = make_model("lstm", num_labels=4)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    input_ids = torch.tensor([SEQUENCES[1]])

    with torch.no_grad():
        expected = model(input_ids=input_ids).logits
        actual = loaded(input_ids=input_ids).logits

    assert type(loaded) is RecurrentForSequenceClassification
    assert loaded.config.cell == "lstm"
    assert loaded.config.num_labels == 4
    assert_close(actual, expected)


def test_auto_model_from_config() -> None:
    config = AutoConfig.for_model(
        "oe_recurrent_classifier", vocab_size=VOCAB_SIZE, embedding_dim=4, hidden_size=5
    )
    model = AutoModelForSequenceClassification.from_config(config)

    assert type(config) is RecurrentClassifierConfig
    assert type(model) is RecurrentForSequenceClassification


def test_resized_head_reinitialized_on_load(tmp_path: Path) -> None:
    make_model("gru", num_labels=3).save_pretrained(tmp_path)
    torch.manual_seed(1)
    loaded = RecurrentForSequenceClassification.from_pretrained(
        tmp_path, num_labels=5, ignore_mismatched_sizes=True
    )
    hidden_bound = 1.0 / math.sqrt(loaded.config.hidden_size)

    assert loaded.classifier.weight.shape == (5, 5)
    assert torch.isfinite(loaded.classifier.weight).all()
    assert loaded.classifier.weight.abs().max().item() <= hidden_bound
    assert torch.count_nonzero(loaded.classifier.bias) == 5
    assert loaded.classifier.bias.abs().max().item() <= hidden_bound


# ---------------------------------------------------------------------------------------------
# Model: invalid input
# ---------------------------------------------------------------------------------------------


def test_unknown_cell_rejected() -> None:
    with pytest.raises(ValueError, match=r"Unknown recurrent cell 'transformer'.*\['gru', 'lstm'\]"):
        RecurrentClassifierConfig(cell="transformer")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"vocab_size": 0}, "vocab_size must be a positive integer, got 0"),
        ({"hidden_size": 2.5}, "hidden_size must be a positive integer, got 2.5"),
        ({"num_layers": 0}, "num_layers must be a positive integer, got 0"),
        ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\), got 1.0"),
        ({"vocab_size": 20, "pad_token_id": 20}, r"pad_token_id must be an integer in \[0, vocab_size=20\)"),
    ],
)
def test_invalid_config_values_rejected(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecurrentClassifierConfig(**arguments)


def test_id_beyond_vocab_rejected() -> None:
    model = make_model("gru")
    input_ids = torch.tensor([[2, 3, 25], [4, 5, 6]])

    with pytest.raises(
        ValueError, match=r"token id 25 \(max id 25.*vocab_size is 20.*vocab_size=len\(tokenizer\)"
    ):
        model(input_ids=input_ids)


def test_negative_id_rejected() -> None:
    model = make_model("gru")

    with pytest.raises(ValueError, match=r"token id -1 \(max id 6, min id -1\)"):
        model(input_ids=torch.tensor([[2, -1, 6]]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_non_integer_ids_rejected(dtype: torch.dtype) -> None:
    model = make_model("gru")

    with pytest.raises(TypeError, match=f"integer dtype.*got {dtype}"):
        model(input_ids=torch.tensor([[2, 3, 4]]).to(dtype))


def test_one_dimensional_ids_rejected() -> None:
    model = make_model("gru")

    with pytest.raises(ValueError, match=r"shape \(batch_size, sequence_length\).*got shape \(3,\)"):
        model(input_ids=torch.tensor([2, 3, 4]))


def test_mask_shape_mismatch_rejected() -> None:
    model = make_model("gru")

    with pytest.raises(
        ValueError, match=r"attention_mask has shape \(1, 2\) but input_ids has shape \(1, 3\)"
    ):
        model(input_ids=torch.tensor([[2, 3, 4]]), attention_mask=torch.tensor([[1, 1]]))


def test_empty_row_rejected() -> None:
    model = make_model("gru")
    input_ids = torch.tensor([[2, 3, 4], [1, 1, 1]])
    attention_mask = torch.tensor([[1, 1, 1], [0, 0, 0]])

    with pytest.raises(ValueError, match=r"no real token in batch rows \[1\]"):
        model(input_ids=input_ids, attention_mask=attention_mask)


def test_out_of_range_label_rejected() -> None:
    model = make_model("gru", num_labels=3)

    with pytest.raises(ValueError, match=r"labels contains \[3\], outside \[0, num_labels=3\)"):
        model(input_ids=torch.tensor([[2, 3], [4, 5]]), labels=torch.tensor([0, 3]))


def test_float_labels_rejected() -> None:
    model = make_model("gru", num_labels=3)

    with pytest.raises(TypeError, match="labels must have an integer dtype.*torch.float32"):
        model(input_ids=torch.tensor([[2, 3], [4, 5]]), labels=torch.tensor([0.0, 1.0]))


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------


def test_vocab_most_frequent_words() -> None:
    # Counts: the 3, cat 2, sat 2, then a, dog, mat, on and ran once each. <unk> is not counted.
    tokenizer = build_word_tokenizer(CORPUS, vocab_size=4)

    assert tokenizer.get_vocab() == {"<unk>": 0, "<pad>": 1, "the": 2, "cat": 3, "sat": 4, "a": 5}
    assert (tokenizer.unk_token_id, tokenizer.pad_token_id) == (0, 1)
    assert (tokenizer.unk_token, tokenizer.pad_token) == ("<unk>", "<pad>")
    assert len(tokenizer) == 6


def test_vocab_ties_by_code_point() -> None:
    tokenizer = build_word_tokenizer(["b a B", "a b B zz"], vocab_size=10)

    assert tokenizer.get_vocab() == {"<unk>": 0, "<pad>": 1, "B": 2, "a": 3, "b": 4, "zz": 5}


def test_vocab_keeps_all_words_when_small() -> None:
    tokenizer = build_word_tokenizer(CORPUS, vocab_size=100)

    assert len(tokenizer) == 10
    assert tokenizer.convert_ids_to_tokens(list(range(10))) == [
        "<unk>",
        "<pad>",
        "the",
        "cat",
        "sat",
        "a",
        "dog",
        "mat",
        "on",
        "ran",
    ]


def test_unknown_words_map_to_unk() -> None:
    tokenizer = build_word_tokenizer(CORPUS, vocab_size=4)

    encoding = tokenizer("the dog sat <unk> zebra")

    assert encoding["input_ids"] == [2, 0, 4, 0, 0]
    assert encoding["attention_mask"] == [1, 1, 1, 1, 1]
    assert sorted(encoding.keys()) == ["attention_mask", "input_ids"]


def test_split_on_any_whitespace() -> None:
    tokenizer = build_word_tokenizer(CORPUS, vocab_size=4)

    assert tokenizer("  the\tcat \n sat  ")["input_ids"] == [2, 3, 4]


def test_padding_on_right() -> None:
    tokenizer = build_word_tokenizer(CORPUS, vocab_size=4)

    batch = tokenizer(["the", "the cat sat"], padding=True)

    assert tokenizer.padding_side == "right"
    assert batch["input_ids"] == [[2, 1, 1], [2, 3, 4]]
    assert batch["attention_mask"] == [[1, 0, 0], [1, 1, 1]]


def test_truncation_to_model_max_length() -> None:
    tokenizer = build_word_tokenizer(CORPUS, vocab_size=4, model_max_length=3)

    assert tokenizer.model_max_length == 3
    assert tokenizer("the cat sat on the mat", truncation=True)["input_ids"] == [2, 3, 4]


def test_custom_special_tokens() -> None:
    tokenizer = build_word_tokenizer(["x y y [PAD]"], vocab_size=5, unk_token="[UNK]", pad_token="[PAD]")

    assert tokenizer.get_vocab() == {"[UNK]": 0, "[PAD]": 1, "y": 2, "x": 3}
    assert tokenizer("y q [PAD]")["input_ids"] == [2, 0, 1]


def test_generator_input_read_once() -> None:
    tokenizer = build_word_tokenizer((text for text in CORPUS), vocab_size=4)

    assert tokenizer.get_vocab() == build_word_tokenizer(CORPUS, vocab_size=4).get_vocab()


def test_tokenizer_round_trip(tmp_path: Path) -> None:
    tokenizer = build_word_tokenizer(CORPUS, vocab_size=4, model_max_length=7)
    texts = ["the dog sat <unk> zebra", "cat", "a mat on the cat"]
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)

    assert (tmp_path / "tokenizer.json").is_file()
    assert isinstance(loaded, PreTrainedTokenizerFast)
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert loaded(texts, padding=True).data == tokenizer(texts, padding=True).data
    assert (loaded.unk_token_id, loaded.pad_token_id) == (0, 1)
    assert (loaded.padding_side, loaded.model_max_length) == ("right", 7)
    assert loaded.model_input_names == ["input_ids", "attention_mask"]


@pytest.mark.parametrize("texts", [[], ["", "   \t"], ["<unk> <pad>"]])
def test_texts_without_words_rejected(texts: list[str]) -> None:
    with pytest.raises(ValueError, match="texts contains no words"):
        build_word_tokenizer(texts)


def test_single_string_rejected() -> None:
    with pytest.raises(TypeError, match=r"got a single str. Wrap it in a list"):
        build_word_tokenizer("the cat sat")


def test_non_string_text_rejected() -> None:
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got int"):
        build_word_tokenizer(["the cat", 7])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"vocab_size": 0}, "vocab_size must be a positive integer, got 0"),
        ({"model_max_length": 0}, "model_max_length must be a positive integer, got 0"),
        ({"unk_token": "<x>", "pad_token": "<x>"}, "unk_token and pad_token must differ, both are '<x>'"),
        ({"pad_token": "a b"}, "pad_token must be one non-empty word without whitespace, got 'a b'"),
    ],
)
def test_invalid_tokenizer_arguments_rejected(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_word_tokenizer(CORPUS, **arguments)


# ---------------------------------------------------------------------------------------------
# Tokenizer and model together
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["right", "left"])
def test_tokenizer_batch_feeds_model(side: str) -> None:
    tokenizer = build_word_tokenizer(CORPUS, vocab_size=100)
    tokenizer.padding_side = side
    torch.manual_seed(0)
    config = RecurrentClassifierConfig(
        vocab_size=len(tokenizer), embedding_dim=4, hidden_size=5, pad_token_id=tokenizer.pad_token_id
    )
    model = RecurrentForSequenceClassification(config).eval()
    texts = ["the cat sat on the mat", "dog", "a cat ran"]

    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        batch_logits = model(**batch).logits
        for row, text in enumerate(texts):
            alone = model(**tokenizer([text], return_tensors="pt")).logits[0]
            assert_close(batch_logits[row], alone)
