"""Recurrent sequence classifier (embedding, GRU or LSTM, linear head) as a Hugging Face model.

The architecture follows the text classifier of the NLP experiments in Hendrycks, Mazeika and
Dietterich, "Deep Anomaly Detection with Outlier Exposure" (ICLR 2019). Word embeddings feed a stacked
GRU. The last layer's hidden state at the last real token of each sequence feeds a linear layer, which
returns the logits.

The authors' code (`hendrycks/outlier-exposure`, `NLP_classification/train.py`) pads on the left and
runs the GRU over the padding too. This model packs the real tokens instead, so padding never changes
the logits.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import logging

logger = logging.get_logger(__name__)

RECURRENT_CELLS: dict[str, type[nn.RNNBase]] = {"gru": nn.GRU, "lstm": nn.LSTM}
IGNORE_INDEX = -100

_INTEGER_DTYPES = frozenset({torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64})


class RecurrentClassifierConfig(PretrainedConfig):
    """Configuration of `RecurrentForSequenceClassification`.

    The defaults follow the classifier of the Outlier Exposure NLP experiments: a 10,000-word
    vocabulary plus the unknown and padding tokens, 50-dimensional embeddings and a two-layer GRU
    with 128 hidden units.

    Args:
        vocab_size: Number of rows of the embedding matrix. It must equal `len(tokenizer)`.
        embedding_dim: Size of each word embedding.
        hidden_size: Number of features in the hidden state of each recurrent layer.
        num_layers: Number of stacked recurrent layers.
        cell: Recurrent layer type, `"gru"` or `"lstm"`.
        dropout: Dropout probability between stacked recurrent layers and before the classifier.
        num_labels: Number of classes. When None, the count comes from `id2label` if given, else 2.
        pad_token_id: Id of the padding token. Its embedding row stays zero and gets no gradient.
        **kwargs: Other `PretrainedConfig` arguments, such as `id2label` and `label2id`.

    Raises:
        ValueError: If `cell` is unknown or a size, dropout or `pad_token_id` is out of range.
    """

    model_type = "oe_recurrent_classifier"

    def __init__(
        self,
        vocab_size: int = 10002,
        embedding_dim: int = 50,
        hidden_size: int = 128,
        num_layers: int = 2,
        cell: str = "gru",
        dropout: float = 0.0,
        num_labels: int | None = None,
        pad_token_id: int = 1,
        **kwargs,
    ) -> None:
        _validate_config_values(
            vocab_size, embedding_dim, hidden_size, num_layers, cell, dropout, pad_token_id
        )

        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cell = cell
        self.dropout = dropout

        # `num_labels` is forwarded only when given. A saved config stores `id2label` but no
        # `num_labels`, and forwarding a default of 2 would make transformers 5.x rebuild
        # `id2label` with 2 entries when a model with another number of classes is loaded.
        if num_labels is not None:
            kwargs["num_labels"] = num_labels

        super().__init__(pad_token_id=pad_token_id, **kwargs)


def check_positive_sizes(**sizes: int) -> None:
    """Raise ValueError naming the first size argument that is not a positive integer."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _validate_config_values(
    vocab_size: int,
    embedding_dim: int,
    hidden_size: int,
    num_layers: int,
    cell: str,
    dropout: float,
    pad_token_id: int,
) -> None:
    """Raise ValueError naming the first invalid `RecurrentClassifierConfig` argument."""
    if cell not in RECURRENT_CELLS:
        raise ValueError(f"Unknown recurrent cell {cell!r}. Set cell to one of {sorted(RECURRENT_CELLS)}.")

    check_positive_sizes(
        vocab_size=vocab_size, embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers
    )

    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")

    if (
        isinstance(pad_token_id, bool)
        or not isinstance(pad_token_id, int)
        or not 0 <= pad_token_id < vocab_size
    ):
        raise ValueError(
            f"pad_token_id must be an integer in [0, vocab_size={vocab_size}), got {pad_token_id!r}. "
            "Set it to the tokenizer's pad_token_id."
        )


class RecurrentForSequenceClassification(PreTrainedModel):
    """Recurrent text classifier: embedding, stacked GRU or LSTM, and a linear layer.

    The classifier reads the last layer's hidden state at the last real token of each sequence,
    so a sequence gets the same logits alone or padded in a batch, with right or left padding.
    Importing `oe_nlp.models` registers the class with `AutoModelForSequenceClassification`.
    """

    config_class = RecurrentClassifierConfig
    base_model_prefix = "recurrent"
    main_input_name = "input_ids"
    # Each layer is one torch module, so device_map="auto" has no multi-module block to keep together.
    _no_split_modules: ClassVar[list[str]] = []

    # The loss is a mean over the batch, so the Trainer must not pass `num_items_in_batch` or
    # skip its own division by the number of gradient accumulation steps.
    accepts_loss_kwargs = False

    # Share of real tokens in a batch above which the RNN runs on the padded batch instead of a packed
    # one (see `_encode_last_token`). NOTE: 0.6 is an estimate between two measured points: 20 Newsgroups
    # batches cut at 100 tokens train 1.9x faster unpacked, uneven SST batches 1.3x slower.
    dense_batch_share: float = 0.6

    def __init__(self, config: RecurrentClassifierConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels

        self.embed_tokens = nn.Embedding(
            config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id
        )

        # torch warns when dropout is set on a single recurrent layer, where it has no effect.
        inter_layer_dropout = config.dropout if config.num_layers > 1 else 0.0
        self.rnn = RECURRENT_CELLS[config.cell](
            input_size=config.embedding_dim,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=inter_layer_dropout,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Initialize a module with the PyTorch default scheme of its type.

        The Outlier Exposure code trained this classifier from PyTorch's default initialization, so
        this replaces the transformers default (normal(0, 0.02) embeddings and linear weights, zero
        biases). `from_pretrained` calls it only for modules with weights missing from a checkpoint.
        """
        if isinstance(module, (nn.Embedding, nn.GRU, nn.LSTM, nn.Linear)):
            module.reset_parameters()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple[torch.Tensor, ...]:
        """Compute class logits and, when labels are given, the mean cross-entropy loss.

        `forward` takes no `**kwargs`, and `accepts_loss_kwargs` is False, so the Trainer scales
        the loss for gradient accumulation itself.

        Args:
            input_ids: Token ids of shape `(batch_size, sequence_length)`, an integer dtype.
            attention_mask: 1 for real tokens and 0 for padding, same shape as `input_ids`.
                Padding may sit on either side. Real tokens are read in order and masked
                positions are skipped. When None, every position is a real token.
            labels: Class ids of shape `(batch_size,)`. Rows labeled -100 are left out of the loss.
            return_dict: Whether to return a `SequenceClassifierOutput` or a tuple. Defaults to
                `config.return_dict`.

        Returns:
            `SequenceClassifierOutput` with `logits` of shape `(batch_size, num_labels)` and `loss`
            (None without labels), or the tuple `(loss, logits)` (`(logits,)` without labels).

        Raises:
            TypeError: If `input_ids` or `labels` has a non-integer dtype.
            ValueError: If a shape is wrong, an id is outside the vocabulary, a row of
                `attention_mask` has no real token, or a label is outside `[0, num_labels)`.
        """
        _validate_input_ids(input_ids, self.config.vocab_size)
        mask = _resolve_attention_mask(input_ids, attention_mask)

        features = self._encode_last_token(input_ids, mask)
        logits = self.classifier(self.dropout(features))

        loss = None
        if labels is not None:
            _validate_labels(labels, input_ids.shape[0], self.num_labels)
            loss = F.cross_entropy(logits, labels.to(logits.device).long(), ignore_index=IGNORE_INDEX)

        if return_dict is None:
            return_dict = self.config.return_dict
        if not return_dict:
            return (logits,) if loss is None else (loss, logits)

        return SequenceClassifierOutput(loss=loss, logits=logits)

    def _encode_last_token(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return the last layer's hidden state after each row's last real token, `(batch, hidden)`."""
        lengths = mask.sum(dim=1).cpu()
        empty_rows = torch.nonzero(lengths == 0).flatten().tolist()
        if empty_rows:
            raise ValueError(
                f"attention_mask has no real token in batch rows {empty_rows}. "
                "Drop empty texts before tokenization."
            )

        # A stable sort on "is padding" moves each row's real tokens to the front in their
        # original order, so left-padded rows become right-padded before packing.
        real_first_order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
        compact_ids = torch.gather(input_ids, 1, real_first_order)

        # Packing costs a sort and per-step bookkeeping, which only pays off when rows differ much in
        # length. Batches of mostly real tokens (long posts cut at max_length) run faster unpacked. Each
        # row's output is read at its last real token, which padding after it cannot change.
        if lengths.sum() >= self.dense_batch_share * lengths.numel() * lengths.max():
            compact_ids = compact_ids[:, : int(lengths.max())]
            outputs, _ = self.rnn(self.embed_tokens(compact_ids.long()))  # (batch, time, hidden)
            return outputs[
                torch.arange(outputs.shape[0], device=outputs.device), lengths.to(outputs.device) - 1
            ]

        embedded = self.embed_tokens(compact_ids.long())
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)

        # With packed input, the final state is each row's state after its last real token, in the
        # original row order. An LSTM returns it as (h_n, c_n).
        _, final_state = self.rnn(packed)
        if isinstance(final_state, tuple):
            final_state = final_state[0]

        return final_state[-1]


def _validate_input_ids(input_ids: torch.Tensor, vocab_size: int) -> None:
    """Raise TypeError or ValueError unless `input_ids` is a 2-D integer tensor of vocabulary ids."""
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}.")

    if input_ids.dtype not in _INTEGER_DTYPES:
        raise TypeError(
            f"input_ids must have an integer dtype such as torch.int64, got {input_ids.dtype}. "
            "Pass token ids from the tokenizer, not embeddings or float tensors."
        )

    if input_ids.dim() != 2 or input_ids.numel() == 0:
        raise ValueError(
            f"input_ids must have shape (batch_size, sequence_length) with both sizes > 0, "
            f"got shape {tuple(input_ids.shape)}."
        )

    min_id, max_id = (int(value) for value in torch.aminmax(input_ids))
    if min_id < 0 or max_id >= vocab_size:
        bad_id = max_id if max_id >= vocab_size else min_id
        raise ValueError(
            f"input_ids contains token id {bad_id} (max id {max_id}, min id {min_id}), but the model's "
            f"vocab_size is {vocab_size}, so valid ids are 0 to {vocab_size - 1}. The tokenizer and the "
            "model disagree: build the model config with vocab_size=len(tokenizer)."
        )


def _resolve_attention_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Return a boolean mask of real tokens, all True when `attention_mask` is None."""
    if attention_mask is None:
        return torch.ones_like(input_ids, dtype=torch.bool)

    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has shape "
            f"{tuple(input_ids.shape)}. Pass the mask the tokenizer returned with these ids."
        )

    return attention_mask.to(input_ids.device) != 0


def _validate_labels(labels: torch.Tensor, batch_size: int, num_labels: int) -> None:
    """Raise TypeError or ValueError unless `labels` contains one class id (or -100) per row."""
    if labels.dtype not in _INTEGER_DTYPES:
        raise TypeError(f"labels must have an integer dtype such as torch.int64, got {labels.dtype}.")

    if labels.shape != (batch_size,):
        raise ValueError(f"labels must have shape ({batch_size},), got {tuple(labels.shape)}.")

    invalid = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= num_labels))
    if bool(invalid.any()):
        bad_values = sorted(set(labels[invalid].tolist()))
        raise ValueError(
            f"labels contains {bad_values}, outside [0, num_labels={num_labels}). "
            f"Use {IGNORE_INDEX} for rows without a label, or set num_labels in the config."
        )
