"""LSTM language model (embedding, stacked LSTM, linear decoder) as a Hugging Face causal LM.

The model serves the language-model experiment of Hendrycks, Mazeika and Dietterich, "Deep Anomaly
Detection with Outlier Exposure" (ICLR 2019), where each fixed-length window of a corpus is scored on
its own. Every forward call therefore starts from a zero LSTM state, and no state is carried from one
batch to the next. Right padding never changes the logits of the real tokens before it, because the
LSTM reads left to right.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput
from transformers.utils import logging

from .recurrent import IGNORE_INDEX, _validate_input_ids, check_positive_sizes

logger = logging.get_logger(__name__)


class LSTMLMConfig(PretrainedConfig):
    """Configuration of `LSTMForCausalLM`.

    The defaults suit the word-level PTB vocabulary of `oe_nlp.data.lm.build_lm_tokenizer`
    (10,001 ids with `<pad>` = 1 and `<eos>` = 2) and a tied 400-dimensional model.

    Args:
        vocab_size: Number of rows of the embedding matrix. It must equal `len(tokenizer)`.
        embedding_size: Size of each token embedding.
        hidden_size: Number of features in the hidden state of each LSTM layer.
        num_layers: Number of stacked LSTM layers.
        dropout: Dropout probability on the embeddings, between LSTM layers and on the last
            layer's output before the decoder.
        tie_word_embeddings: Whether the decoder reuses the embedding matrix as its weight. This
            needs `embedding_size == hidden_size`.
        pad_token_id: Id of the padding token.
        eos_token_id: Id of the end-of-sentence token.
        **kwargs: Other `PretrainedConfig` arguments.

    Raises:
        ValueError: If a size, the dropout or a token id is out of range, or tied embeddings
            are asked for with `embedding_size != hidden_size`.
    """

    model_type = "oe_lstm_lm"

    def __init__(
        self,
        vocab_size: int = 10001,
        embedding_size: int = 400,
        hidden_size: int = 400,
        num_layers: int = 2,
        dropout: float = 0.0,
        tie_word_embeddings: bool = True,
        pad_token_id: int = 1,
        eos_token_id: int = 2,
        **kwargs,
    ) -> None:
        check_positive_sizes(
            vocab_size=vocab_size,
            embedding_size=embedding_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
        )
        _validate_dropout_and_tying(dropout, tie_word_embeddings, embedding_size, hidden_size)
        _validate_token_ids(vocab_size, pad_token_id=pad_token_id, eos_token_id=eos_token_id)

        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.tie_word_embeddings = tie_word_embeddings
        self.pad_token_id = pad_token_id
        self.eos_token_id = eos_token_id

        super().__init__(**kwargs)


def _validate_dropout_and_tying(
    dropout: float, tie_word_embeddings: bool, embedding_size: int, hidden_size: int
) -> None:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")

    if tie_word_embeddings and embedding_size != hidden_size:
        raise ValueError(
            f"tie_word_embeddings=True needs embedding_size == hidden_size, because the decoder reuses the "
            f"embedding matrix, got embedding_size={embedding_size} and hidden_size={hidden_size}. Set them "
            "equal or set tie_word_embeddings=False."
        )


def _validate_token_ids(vocab_size: int, **token_ids: int) -> None:
    for name, value in token_ids.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocab_size:
            raise ValueError(
                f"{name} must be an integer in [0, vocab_size={vocab_size}), got {value!r}. "
                f"Set it to the tokenizer's {name}."
            )


class LSTMForCausalLM(PreTrainedModel):
    """LSTM language model: embedding, dropout, stacked LSTM, dropout and a linear decoder.

    With `config.tie_word_embeddings`, `decoder.weight` is the embedding matrix itself, also after
    `from_pretrained`. The model does not subclass `GenerationMixin`, so `generate` is not
    available. Importing `oe_nlp.models` registers the class with `AutoModelForCausalLM`.
    """

    config_class = LSTMLMConfig
    base_model_prefix = "lstm_lm"
    main_input_name = "input_ids"
    _no_split_modules: ClassVar[list[str]] = []

    # transformers 5 ties parameters through this {target: source} mapping when
    # config.tie_word_embeddings is true, in __init__ (post_init) and in from_pretrained.
    _tied_weights_keys: ClassVar[dict[str, str]] = {"decoder.weight": "embed_tokens.weight"}

    # The loss is a mean over the kept tokens of the batch, and `forward` takes no **kwargs, so
    # the Trainer must not pass `num_items_in_batch` and divides by the accumulation steps itself.
    accepts_loss_kwargs = False

    def __init__(self, config: LSTMLMConfig) -> None:
        super().__init__(config)

        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size)
        self.dropout = nn.Dropout(config.dropout)

        # torch warns when dropout is set on a single LSTM layer, where it has no effect.
        inter_layer_dropout = config.dropout if config.num_layers > 1 else 0.0
        self.lstm = nn.LSTM(
            input_size=config.embedding_size,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=inter_layer_dropout,
            batch_first=True,
        )
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        """Return the token embedding."""
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        """Replace the token embedding."""
        self.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        """Return the decoder, whose weight is the embedding matrix when tied."""
        return self.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        """Replace the decoder."""
        self.decoder = new_embeddings

    def _init_weights(self, module: nn.Module) -> None:
        """Initialize a module: embedding and decoder weights uniform in [-0.1, 0.1], decoder bias 0.

        This is the usual scheme of LSTM language models since Zaremba et al. (2014). PyTorch's default
        normal(0, 1) embedding, tied to the decoder, starts with logits so large that the first loss is
        above log(V). The LSTM keeps the PyTorch default. `from_pretrained` calls this only for modules
        whose weights are missing from a checkpoint.
        """
        if isinstance(module, nn.LSTM):
            module.reset_parameters()
        elif isinstance(module, (nn.Embedding, nn.Linear)):
            nn.init.uniform_(module.weight, -0.1, 0.1)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> CausalLMOutput | tuple[torch.Tensor, ...]:
        """Compute next-token logits and, when labels are given, the mean shifted cross-entropy.

        The LSTM starts from a zero state on every call. Labels follow the Hugging Face causal-LM
        convention: they are the input ids, with -100 where no loss is wanted (padding), and the
        model shifts them, so `logits[:, t]` is scored against `labels[:, t + 1]`.

        Args:
            input_ids: Token ids of shape `(batch_size, sequence_length)`, an integer dtype.
            attention_mask: 1 for real tokens and 0 for padding, same shape as `input_ids`. Padding
                must sit on the right. It does not change the logits, and it serves only to
                reject left padding. When None, every position is a real token.
            labels: Target ids, same shape as `input_ids`. Positions labeled -100 are left out.
            return_dict: Whether to return a `CausalLMOutput` or a tuple. Defaults to
                `config.return_dict`.

        Returns:
            `CausalLMOutput` with `logits` of shape `(batch_size, sequence_length, vocab_size)` and
            `loss` (the mean over kept target tokens, None without labels), or the tuple
            `(loss, logits)` (`(logits,)` without labels).

        Raises:
            TypeError: If `input_ids` or `labels` has a non-integer dtype.
            ValueError: If a shape is wrong, an id is outside the vocabulary, the padding is on the
                left, or the labels keep no target token after the shift.
        """
        _validate_input_ids(input_ids, self.config.vocab_size)
        if attention_mask is not None:
            _validate_right_padding(attention_mask, input_ids)

        embedded = self.dropout(self.embed_tokens(input_ids.long()))
        hidden_states, _ = self.lstm(embedded)
        logits = self.decoder(self.dropout(hidden_states))

        loss = None
        if labels is not None:
            loss = shifted_cross_entropy(logits, labels, self.config.vocab_size)

        if return_dict is None:
            return_dict = self.config.return_dict
        if not return_dict:
            return (logits,) if loss is None else (loss, logits)

        return CausalLMOutput(loss=loss, logits=logits)


def _validate_right_padding(attention_mask: torch.Tensor, input_ids: torch.Tensor) -> None:
    """Raise ValueError unless `attention_mask` has the shape of `input_ids` and pads only on the right."""
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has shape "
            f"{tuple(input_ids.shape)}. Pass the mask that comes with these ids."
        )

    mask = (attention_mask != 0).to(torch.int8)
    if bool((mask[:, 1:] > mask[:, :-1]).any()):
        raise ValueError(
            "attention_mask has a real token after padding, but the LSTM language model needs right padding. "
            "Set tokenizer.padding_side = 'right'."
        )


def shifted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Return the mean cross-entropy of `logits[:, :-1]` against `labels[:, 1:]`, skipping -100.

    Args:
        logits: Next-token logits of shape `(batch_size, sequence_length, vocab_size)`.
        labels: Target ids of shape `(batch_size, sequence_length)`, -100 where no loss is wanted.
        vocab_size: Number of classes, to check the label ids.

    Returns:
        The scalar mean over the kept target tokens.

    Raises:
        TypeError: If `labels` has a non-integer dtype.
        ValueError: If the shape is wrong, a label is out of range, or no target token is kept.
    """
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise TypeError(f"labels must have an integer dtype such as torch.int64, got {labels.dtype}.")

    if labels.shape != logits.shape[:2]:
        raise ValueError(
            f"labels must have the shape of input_ids {tuple(logits.shape[:2])}, got {tuple(labels.shape)}."
        )

    targets = labels[:, 1:].to(logits.device).long()
    target_mask = targets != IGNORE_INDEX
    invalid = target_mask & ((targets < 0) | (targets >= vocab_size))
    if bool(invalid.any()):
        bad_values = sorted(set(targets[invalid].tolist()))
        raise ValueError(
            f"labels contains {bad_values}, outside [0, vocab_size={vocab_size}) and not {IGNORE_INDEX}."
        )

    if not bool(target_mask.any()):
        raise ValueError(
            "labels keeps no target token after the shift (every labels[:, 1:] is -100), so the loss is "
            "undefined. Pass sequences of at least two real tokens."
        )

    flat_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
    return F.cross_entropy(flat_logits, targets.reshape(-1), ignore_index=IGNORE_INDEX)
