"""Word-level tokenizer for the recurrent classifier, built from a training corpus."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from transformers import PreTrainedTokenizerFast
from transformers.utils import logging

logger = logging.get_logger(__name__)

MODEL_INPUT_NAMES = ["input_ids", "attention_mask"]


def build_word_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 10000,
    unk_token: str = "<unk>",
    pad_token: str = "<pad>",
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """Build a word-level fast tokenizer over the most frequent words of `texts`.

    Texts are split on whitespace only, because the data layer has already normalized and
    tokenized them. The vocabulary maps `unk_token` to id 0, `pad_token` to id 1, and the
    `vocab_size` most frequent words to ids 2 onward, ordered by count (descending) and then by
    the word's code points (ascending), so ties are deterministic. Other words map to `unk_token`,
    and so does an `unk_token` written in the text. The special tokens themselves are not counted.
    The tokenizer pads on the right, returns `input_ids` and `attention_mask`, and saves as
    `tokenizer.json`, which `AutoTokenizer.from_pretrained` loads back.

    Args:
        texts: Training texts, each a whitespace-separated sequence of words. Read once.
        vocab_size: Maximum number of corpus words in the vocabulary, not counting the two
            special tokens. The vocabulary is smaller when the corpus has fewer distinct words,
            so size the model with `len(tokenizer)`.
        unk_token: Token for words outside the vocabulary.
        pad_token: Token used for padding.
        model_max_length: Length that `truncation=True` cuts sequences to, in tokens.

    Returns:
        A `PreTrainedTokenizerFast` wrapping a `tokenizers.Tokenizer` with a `WordLevel` model.

    Raises:
        TypeError: If `texts` is a single string or contains a non-string item.
        ValueError: If `texts` contains no words, or an argument is out of range.
    """
    _validate_arguments(texts, vocab_size, unk_token, pad_token, model_max_length)

    counts = _count_words(texts, excluded={unk_token, pad_token})
    vocabulary = _select_vocabulary(counts, vocab_size, unk_token, pad_token)

    backend = Tokenizer(WordLevel(vocab=vocabulary, unk_token=unk_token))
    backend.pre_tokenizer = WhitespaceSplit()

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=unk_token,
        pad_token=pad_token,
        model_max_length=model_max_length,
        padding_side="right",
        model_input_names=MODEL_INPUT_NAMES,
    )

    _log_coverage(counts, vocabulary)
    return tokenizer


def _validate_arguments(
    texts: Iterable[str], vocab_size: int, unk_token: str, pad_token: str, model_max_length: int
) -> None:
    """Raise TypeError or ValueError naming the first invalid argument of `build_word_tokenizer`."""
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, got a single str. Wrap it in a list: [text].")

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive integer, got {vocab_size!r}.")

    if isinstance(model_max_length, bool) or not isinstance(model_max_length, int) or model_max_length < 1:
        raise ValueError(f"model_max_length must be a positive integer, got {model_max_length!r}.")

    for name, token in (("unk_token", unk_token), ("pad_token", pad_token)):
        if not isinstance(token, str) or not token or token != token.strip() or len(token.split()) != 1:
            raise ValueError(f"{name} must be one non-empty word without whitespace, got {token!r}.")

    if unk_token == pad_token:
        raise ValueError(f"unk_token and pad_token must differ, both are {unk_token!r}.")


def _count_words(texts: Iterable[str], excluded: set[str]) -> Counter[str]:
    """Count the words of `texts` as the tokenizer splits them, leaving out the `excluded` tokens."""
    # The tokenizer's own pre-tokenizer does the split because Python's str.split treats a few
    # more characters as whitespace (such as U+001C to U+001F) than Rust's char::is_whitespace.
    pre_tokenizer = WhitespaceSplit()
    counts: Counter[str] = Counter()
    text_count = 0

    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] must be a str, got {type(text).__name__}.")
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(text))
        text_count = index + 1

    for token in excluded:
        counts.pop(token, None)

    if not counts:
        raise ValueError(
            f"texts contains no words outside the special tokens ({text_count} texts read). "
            "Pass the training texts of the in-distribution data set."
        )

    return counts


def _select_vocabulary(
    counts: Counter[str], vocab_size: int, unk_token: str, pad_token: str
) -> dict[str, int]:
    """Map the special tokens to ids 0 and 1 and the `vocab_size` most frequent words to 2 onward."""
    ranked_words = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:vocab_size]

    vocabulary = {unk_token: 0, pad_token: 1}
    for word, _ in ranked_words:
        vocabulary[word] = len(vocabulary)

    return vocabulary


def _log_coverage(counts: Counter[str], vocabulary: dict[str, int]) -> None:
    """Log the vocabulary size and the share of corpus tokens that it covers."""
    total_tokens = sum(counts.values())
    covered_tokens = sum(counts[word] for word in vocabulary)

    logger.info(
        "Built a word-level vocabulary of %d words (plus 2 special tokens) from %d distinct words, "
        "covering %.2f%% of %d corpus tokens.",
        len(vocabulary) - 2,
        len(counts),
        100.0 * covered_tokens / total_tokens,
        total_tokens,
    )
