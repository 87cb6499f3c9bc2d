"""Language-model data for Outlier Exposure on the Penn Treebank (PTB).

The setting is the language-model experiment of Hendrycks, Mazeika and Dietterich, "Deep Anomaly
Detection with Outlier Exposure" (ICLR 2019). A language model trained on PTB (Mikolov's
10,000-word version) is fine-tuned with Outlier Exposure on WikiText-2. It is then tested on the
five genres of the English Web Treebank (EWT).

Every corpus becomes one token stream: each line (a sentence) is followed by `<eos>`, and the
stream is cut into fixed-length windows by `lm_windows`. A window of `seq_len + 1` tokens gives
`seq_len` next-token predictions, and consecutive windows overlap by one token, so every token
after the first is predicted exactly once. Windows are scored independently, with no recurrent
state carried from one window to the next.

Outlier and OOD text reaches PTB's vocabulary through `map_to_ptb_vocabulary`. PTB text itself is
used as it is stored, without `normalize_text`, so that the vocabulary is exactly PTB's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

import datasets
from tokenizers import Regex, Tokenizer, normalizers
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Split, WhitespaceSplit
from transformers import PreTrainedTokenizerFast
from transformers.utils import logging

from oe_nlp.data.loading import DATA_DIR_ENV, PathLike, hub_requests, load_text_dataset, resolve_data_dir
from oe_nlp.data.registry import get_dataset_spec
from oe_nlp.data.text import is_wikitext_heading, normalize_text, split_wikitext_line

logger = logging.get_logger(__name__)

LEVELS = ("word", "char")
UNK_TOKEN = "<unk>"
PAD_TOKEN = "<pad>"
EOS_TOKEN = "<eos>"
SPECIAL_TOKENS = (UNK_TOKEN, PAD_TOKEN, EOS_TOKEN)

# Character-level symbol for the space between two words. PTB's training text has no "_", so
# the symbol cannot be confused with a real character.
SPACE_SYMBOL = "_"

# Predictions per window in Hendrycks et al. (2019): 70 at word level, 150 at character level.
DEFAULT_SEQ_LEN = {"word": 70, "char": 150}

PTB_SPLIT_NAMES = ("train", "validation", "test")
EWT_GENRES = ("answers", "email", "newsgroup", "reviews", "weblog")

# The two mappings of outlier and OOD text into PTB's vocabulary (see `map_to_ptb_vocabulary`). "ptb"
# rewrites the text in PTB's form first. "paper" looks tokens up as written, as Hendrycks et al.'s code did.
TEXT_MAPPINGS = ("ptb", "paper")

# The tokens of PTB's training text that contain no letter or digit. Punctuation such as "," or
# "." does not occur in Mikolov's PTB because his preprocessing removed it.
PTB_SYMBOL_WORDS = frozenset({"$", "&", "#", "'", "\\*", "\\*\\*"})

# A number as PTB wrote it before replacing it with N: "7", "1,000", "8.47", ".5", "1/2", "10:30".
_NUMBER = re.compile(r"(?:\d+(?:[.,:/]\d+)*|\.\d+)")

# WikiText splits "don't" into "don 't", where PTB writes "do n't".
_WIKITEXT_NEGATION = re.compile(r"(\w)n 't\b")
_NEGATION = re.compile(r"(\w)n't\b")
_CLITIC = re.compile(r"(\w)'(s|re|ve|ll|d|m)\b")

# Punctuation that PTB's tokenizer makes a token of its own. A comma or colon between two digits
# stays, because it is part of a number ("1,000", "10:30").
_PUNCTUATION = re.compile(r"""(\.\.\.+|--+|[;!?"()\[\]{}]|,(?!\d)|(?<!\d),|:(?!\d)|(?<!\d):)""")
_CURRENCY_BEFORE_DIGIT = re.compile(r"([$#])(?=\d)")
_PERCENT_AFTER_DIGIT = re.compile(r"(\d)%")
_QUOTE_CHARACTERS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "'"})


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"Unknown level {level!r}. Set level to 'word' or 'char'.")


def _resolve_seq_len(seq_len: int | None, level: str) -> int:
    if seq_len is None:
        return DEFAULT_SEQ_LEN[level]

    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(
            f"seq_len must be a positive integer (next-token predictions per window), got {seq_len!r}."
        )

    return seq_len


def line_symbols(line: str) -> list[str]:
    """Split one line into character-level symbols.

    Each character is a symbol, the space between two words is `SPACE_SYMBOL`, and the word
    `<unk>` is one symbol. Runs of whitespace count as one space, and the ends are stripped.

    Args:
        line: A PTB line or a line returned by `map_to_ptb_vocabulary(..., level="char")`.

    Returns:
        The symbols in order.
    """
    symbols: list[str] = []
    for index, word in enumerate(line.split()):
        if index > 0:
            symbols.append(SPACE_SYMBOL)
        symbols.extend([word] if word == UNK_TOKEN else list(word))

    return symbols


def _count_symbols(train_lines: Iterable[str], level: str) -> Counter[str]:
    if isinstance(train_lines, str):
        raise TypeError("train_lines must be an iterable of lines, got a single str. Pass a list of lines.")

    counts: Counter[str] = Counter()
    for index, line in enumerate(train_lines):
        if not isinstance(line, str):
            raise TypeError(f"train_lines[{index}] must be a str, got {type(line).__name__}.")

        if level == "word":
            counts.update(line.split())
            continue

        if SPACE_SYMBOL in line:
            raise ValueError(
                f"train_lines[{index}] contains {SPACE_SYMBOL!r}, the character-level symbol for a space: "
                f"{line.strip()!r}. Remove it from the training text."
            )
        counts.update(line_symbols(line))

    for token in SPECIAL_TOKENS:
        counts.pop(token, None)

    if not counts:
        raise ValueError("train_lines contains no words. Pass the lines of the PTB training split.")

    return counts


def build_lm_tokenizer(train_lines: Iterable[str], level: str = "word") -> PreTrainedTokenizerFast:
    """Build the word- or character-level tokenizer of a language model from its training lines.

    The vocabulary has every word (word level) or every symbol of `line_symbols` (character
    level) of `train_lines`, with no frequency cut-off. `<unk>` is id 0, `<pad>` id 1 and `<eos>`
    id 2, and the corpus symbols follow, by count (descending) and then by code points
    (ascending). On PTB's training split this gives 10,001 ids at word level (9,998 words, the
    `<unk>` the corpus already contains, `<eos>` and `<pad>`) and 50 at character level (46
    characters, `SPACE_SYMBOL` and the three special tokens). At character level, PTB's `<unk>`
    word becomes the single `<unk>` symbol, so "<" and ">" (which PTB uses only inside `<unk>`)
    are not characters of the vocabulary.

    Word level splits on whitespace. Character level maps each space to `SPACE_SYMBOL` and
    every other character to its own token. Both levels map unknown tokens to `<unk>` and add
    no special tokens, so a caller appends `<eos>` after each line. The tokenizer pads on the
    right and saves with `save_pretrained` (`tokenizer.json`).

    Args:
        train_lines: Lines of the training split, such as the lines of `ptb.train.txt`.
        level: "word" or "char".

    Returns:
        The tokenizer, with `unk_token`, `pad_token` and `eos_token` set.

    Raises:
        TypeError: If `train_lines` is a single string or contains a non-string item.
        ValueError: If `level` is unknown, the lines contain no words, or a character-level
            line contains `SPACE_SYMBOL`.
    """
    _check_level(level)
    counts = _count_symbols(train_lines, level)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    vocabulary = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for symbol, _ in ranked:
        vocabulary[symbol] = len(vocabulary)

    backend = Tokenizer(WordLevel(vocab=vocabulary, unk_token=UNK_TOKEN))
    if level == "word":
        backend.pre_tokenizer = WhitespaceSplit()
    else:
        backend.normalizer = normalizers.Replace(" ", SPACE_SYMBOL)
        backend.pre_tokenizer = Split(Regex("."), behavior="isolated")

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )

    logger.info("Built a %s-level language-model vocabulary of %d ids", level, len(tokenizer))
    return tokenizer


def _check_mapping(mapping: str, level: str) -> None:
    if mapping not in TEXT_MAPPINGS:
        raise ValueError(f"Unknown text mapping {mapping!r}. Set it to one of {list(TEXT_MAPPINGS)}.")

    if mapping == "paper" and level != "word":
        raise ValueError(
            "The 'paper' text mapping exists at word level only: at character level Hendrycks et al. lower-cased "
            "the text and dropped characters PTB lacks, which is what the 'ptb' mapping does. Use mapping='ptb'."
        )


def _ptb_tokens(line: str, lowercase: bool = True) -> list[str]:
    """Split a line into tokens the way PTB's tokenizer would, lower-casing it when `lowercase` is true."""
    text = normalize_text(line.translate(_QUOTE_CHARACTERS), lowercase=lowercase)
    text = _WIKITEXT_NEGATION.sub(r"\1 n't", text)
    text = _NEGATION.sub(r"\1 n't", text)
    text = _CLITIC.sub(r"\1 '\2", text)
    text = _PUNCTUATION.sub(r" \1 ", text)
    text = _CURRENCY_BEFORE_DIGIT.sub(r"\1 ", text)
    text = _PERCENT_AFTER_DIGIT.sub(r"\1 %", text)
    tokens = text.split()

    # The sentence's final period is a token of its own, but a period inside the last token
    # ("u.s.") marks an abbreviation that keeps its period.
    if tokens and len(tokens[-1]) > 1 and tokens[-1].endswith(".") and "." not in tokens[-1][:-1]:
        tokens[-1:] = [tokens[-1][:-1], "."]

    return tokens


def _is_number(token: str) -> bool:
    return token == "%" or _NUMBER.fullmatch(token) is not None


def _is_punctuation(token: str) -> bool:
    return not any(character.isalnum() for character in token)


def _map_word(token: str, vocabulary: Collection[str], drop_punctuation: bool) -> str | None:
    if token in vocabulary:
        return token

    if _is_punctuation(token) and drop_punctuation:
        return None

    return UNK_TOKEN


def _map_characters(token: str, vocabulary: Collection[str], drop_punctuation: bool) -> str | None:
    if token == UNK_TOKEN:
        return UNK_TOKEN

    if _is_punctuation(token) and token not in PTB_SYMBOL_WORDS and drop_punctuation:
        return None

    known_characters = [
        character for character in token if character in vocabulary and character != SPACE_SYMBOL
    ]
    return "".join(known_characters) or None


def map_to_ptb_vocabulary(
    line: str,
    vocabulary: Collection[str],
    level: str = "word",
    *,
    mapping: str = "ptb",
    drop_punctuation: bool | None = None,
) -> str:
    """Rewrite a line of outlier or OOD text in the form of PTB's text, within its vocabulary.

    With `mapping="ptb"` (the default) the steps are, in order:

    1. `normalize_text` joins WikiText's `@-@`, `@,@` and `@.@` to their neighbours
       (`10 @-@ year` -> `10-year`, `1 @,@ 000` -> `1,000`), undoes PTB bracket escapes and
       lower-cases the line. Curly quotes become straight ones.
    2. The line is split into tokens as PTB's tokenizer would: `n't` and the clitics `'s`, `'re`,
       `'ve`, `'ll`, `'d`, `'m` become tokens (`don't` and WikiText's `don 't` -> `do n't`),
       punctuation is split off, `$` and `#` are split from a following digit, `%` from a
       preceding one, and the line's final period becomes a token.
    3. Each number token (`7`, `1,000`, `8.47`, `1/2`) becomes `N`, and so does `%`. In PTB's
       training text `%` never occurs while "a N N stake" and "rose N N" are frequent, so PTB
       wrote `%` as `N` too. Numbers inside a word stay (`10-year`, `1990s`), as in PTB.
    4. Word level: a token in `vocabulary` stays, other tokens become `<unk>`. A hyphenated word
       that PTB lacks (`role-playing`) becomes one `<unk>`, as PTB's own rare words did.
       Character level: characters outside `vocabulary` are dropped, and `<unk>` (which WikiText
       writes for its rare words) stays one symbol.

    A token without letters or digits (punctuation) that PTB lacks is dropped when
    `drop_punctuation` is true, because Mikolov's PTB has no punctuation. With
    `drop_punctuation=False` it becomes `<unk>` at word level and keeps its known characters at
    character level.

    `mapping="paper"` (word level only) follows the code of Hendrycks et al. (2019)
    (`hendrycks/outlier-exposure`, `NLP_language_modeling/data.py`), which looked each word up as
    it was written: steps 1 and 2 run without lower-casing, step 3 is skipped, and punctuation is
    kept, so capitalised words, numbers and punctuation all become `<unk>` (PTB is lower-case, writes
    numbers as `N` and has no punctuation). A test text's share of `<unk>` then differs from PTB's
    far more than its wording does.

    Args:
        line: One line of text, such as a WikiText sentence or an EWT sentence.
        vocabulary: The tokenizer's tokens, e.g. `tokenizer.get_vocab()`: words at word level,
            characters at character level.
        level: "word" or "char".
        mapping: "ptb" or "paper", as above.
        drop_punctuation: Whether punctuation outside PTB is dropped instead of mapped. None means
            true for "ptb" and false for "paper".

    Returns:
        The mapped tokens joined by single spaces, possibly empty. At character level the words
        are separated by spaces too, which the tokenizer turns into `SPACE_SYMBOL`.

    Raises:
        ValueError: If `level` or `mapping` is unknown, or `mapping="paper"` is asked at character level.
    """
    _check_level(level)
    _check_mapping(mapping, level)
    paper = mapping == "paper"
    if drop_punctuation is None:
        drop_punctuation = not paper

    mapped = []
    for token in _ptb_tokens(line, lowercase=not paper):
        if token == UNK_TOKEN:
            mapped_token = UNK_TOKEN
        elif _is_number(token) and not paper:
            mapped_token = "N"
        elif level == "word":
            mapped_token = _map_word(token, vocabulary, drop_punctuation)
        else:
            mapped_token = _map_characters(token, vocabulary, drop_punctuation)

        if mapped_token is not None:
            mapped.append(mapped_token)

    return " ".join(mapped)


def lm_windows(token_ids: Sequence[int], window: int, stride: int) -> list[list[int]]:
    """Cut a token stream into windows of `window` tokens that start every `stride` tokens.

    A window of `window` tokens gives `window - 1` next-token predictions. With
    `stride = window - 1`, consecutive windows share one token and every token after the first
    is predicted exactly once. The last window may be shorter, and it is kept when it has at
    least two tokens (one prediction). Example: 8 tokens, window 4, stride 3 ->
    `[t0..t3], [t3..t6], [t6, t7]`.

    Args:
        token_ids: The token stream.
        window: Tokens per window, at least 2.
        stride: Distance between the starts of consecutive windows, from 1 to `window - 1`.

    Returns:
        The windows in stream order, as lists of ids. Empty when the stream has fewer than two tokens.

    Raises:
        ValueError: If `window` or `stride` is out of range.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(
            f"window must be an integer of at least 2 (one input and one target), got {window!r}."
        )

    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= window - 1:
        raise ValueError(
            f"stride must be an integer from 1 to window - 1 = {window - 1}, got {stride!r}. A larger "
            "stride would leave tokens that are never predicted."
        )

    ids = list(token_ids)
    return [ids[start : start + window] for start in range(0, len(ids) - 1, stride)]


def encode_lines(lines: Iterable[str], tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """Encode lines into one token stream, with `<eos>` after each line.

    Lines that are empty or only whitespace are skipped, so they add no `<eos>`.

    Args:
        lines: Lines already in the tokenizer's vocabulary, e.g. PTB lines or the output of
            `map_to_ptb_vocabulary`.
        tokenizer: A tokenizer from `build_lm_tokenizer`.

    Returns:
        The concatenated token ids.
    """
    kept_lines = [" ".join(line.split()) for line in lines if line.strip()]
    if not kept_lines:
        return []

    encoded = tokenizer(kept_lines, add_special_tokens=False)["input_ids"]
    stream: list[int] = []
    for ids in encoded:
        stream.extend(ids)
        stream.append(tokenizer.eos_token_id)

    return stream


def _windows_dataset(stream: Sequence[int], seq_len: int, max_windows: int | None = None) -> datasets.Dataset:
    windows = lm_windows(stream, window=seq_len + 1, stride=seq_len)
    if max_windows is not None:
        windows = windows[:max_windows]

    columns = {"input_ids": windows, "attention_mask": [[1] * len(window) for window in windows]}
    features = datasets.Features(
        {
            "input_ids": datasets.Sequence(datasets.Value("int32")),
            "attention_mask": datasets.Sequence(datasets.Value("int8")),
        }
    )
    return datasets.Dataset.from_dict(columns, features=features)


def _read_ptb_lines(split: str, data_dir: PathLike | None) -> list[str]:
    """Read one PTB split as stored, from the data directory or else from the Hub."""
    spec = get_dataset_spec("ptb")
    root = resolve_data_dir(data_dir)
    if root is not None:
        path = root / spec.local_files[split][0]
        if not path.is_file():
            raise FileNotFoundError(
                f"Missing PTB file {path} (split {split!r}). Pass the folder that contains "
                f"{spec.local_files[split][0]} as --data_dir or set ${DATA_DIR_ENV} to it, or give no "
                f"data directory (and unset ${DATA_DIR_ENV}) to load {spec.hub_id!r} from the Hugging Face Hub."
            )

        logger.info("Reading PTB split %r from %s", split, path)
        return spec.local_reader([path]).texts

    request = hub_requests("ptb", split)
    logger.info("Loading PTB split %r from the Hub with %s", split, request)
    try:
        hub_dataset = datasets.load_dataset(**request)
    except ConnectionError as error:
        raise ConnectionError(
            f"Could not load PTB from the Hugging Face Hub ({spec.hub_id}): {error}. Without network access, "
            f"pass the folder that contains ptb/ptb.train.txt as --data_dir or set ${DATA_DIR_ENV}."
        ) from error

    if spec.text_column not in hub_dataset.column_names:
        raise ValueError(
            f"The Hub copy of PTB ({spec.hub_id} at revision {spec.hub_revision}) lacks the column "
            f"{spec.text_column!r}. Its columns are {hub_dataset.column_names}. Pass --data_dir to read local files."
        )

    return list(hub_dataset[spec.text_column])


def _nonempty_stream(lines: list[str], tokenizer: PreTrainedTokenizerFast, description: str) -> list[int]:
    stream = encode_lines(lines, tokenizer)
    if len(stream) < 2:
        raise ValueError(
            f"{description} has {len(lines)} lines and {len(stream)} tokens after mapping, too few for one "
            "window. Check that the data files are not empty."
        )

    return stream


def load_lm_datasets(
    data_dir: PathLike | None = None,
    level: str = "word",
    seq_len: int | None = None,
    tokenizer: PreTrainedTokenizerFast | None = None,
) -> tuple[datasets.DatasetDict, PreTrainedTokenizerFast]:
    """Load PTB's three splits as language-model windows.

    Each split's lines are read as stored (no `normalize_text`, no lower-casing), joined into one
    stream with `<eos>` after each line, and cut into windows of `seq_len + 1` tokens with a
    stride of `seq_len` (see `lm_windows`).

    Args:
        data_dir: Folder that contains `ptb/ptb.{train,valid,test}.txt`. When None,
            `$OE_NLP_DATA_DIR` is used, else the Hub copy `ptb-text-only/ptb_text_only`.
        level: "word" or "char".
        seq_len: Next-token predictions per window. Defaults to 70 (word) or 150 (char).
        tokenizer: Tokenizer to reuse, e.g. one loaded with `AutoTokenizer.from_pretrained`.
            When None, `build_lm_tokenizer` builds one from the training split.

    Returns:
        A DatasetDict with "train", "validation" and "test", each with the columns `input_ids`
        and `attention_mask` (all ones, since padding is left to the collator), and the tokenizer.

    Raises:
        ValueError: If `level` or `seq_len` is invalid, or a split has no tokens.
        FileNotFoundError: If the data directory lacks a PTB file.
        ConnectionError: If the Hub cannot be reached and no data directory is given.
    """
    _check_level(level)
    seq_len = _resolve_seq_len(seq_len, level)
    lines = {split: _read_ptb_lines(split, data_dir) for split in PTB_SPLIT_NAMES}

    if tokenizer is None:
        tokenizer = build_lm_tokenizer(lines["train"], level)

    splits = {}
    for split, split_lines in lines.items():
        stream = _nonempty_stream(split_lines, tokenizer, f"PTB split {split!r}")
        splits[split] = _windows_dataset(stream, seq_len)
        logger.info("PTB %s: %d tokens, %d windows", split, len(stream), len(splits[split]))

    return datasets.DatasetDict(splits), tokenizer


def wikitext_lm_lines(lines: Iterable[str]) -> list[str]:
    """Split WikiText lines into sentences: blank lines and headings are dropped, nothing is filtered by length."""
    sentences = []
    for line in lines:
        if not line.strip() or is_wikitext_heading(line):
            continue
        sentences.extend(split_wikitext_line(line))

    return sentences


def _mapped_lines(
    texts: Iterable[str], tokenizer: PreTrainedTokenizerFast, level: str, mapping: str
) -> list[str]:
    vocabulary = tokenizer.get_vocab()
    return [map_to_ptb_vocabulary(text, vocabulary, level, mapping=mapping) for text in texts]


def load_lm_outlier_dataset(
    tokenizer: PreTrainedTokenizerFast,
    data_dir: PathLike | None = None,
    level: str = "word",
    seq_len: int | None = None,
    max_windows: int | None = None,
    mapping: str = "ptb",
) -> datasets.Dataset:
    """Load WikiText-2's training split as outlier windows in PTB's vocabulary.

    Headings and blank lines are dropped, each paragraph line is split into sentences by
    `split_wikitext_line`, and each sentence is mapped by `map_to_ptb_vocabulary` and ends with
    `<eos>`, as a PTB line does.

    Args:
        tokenizer: The in-distribution tokenizer from `build_lm_tokenizer`.
        data_dir: Folder that contains `wikitext-2/wiki.train.tokens`. When None,
            `$OE_NLP_DATA_DIR` is used, else the Hub.
        level: "word" or "char", the level of `tokenizer`.
        seq_len: Next-token predictions per window. Defaults to 70 (word) or 150 (char).
        max_windows: Keep only the first `max_windows` windows. None keeps all.
        mapping: "ptb" or "paper", the `mapping` of `map_to_ptb_vocabulary`.

    Returns:
        A Dataset with the columns `input_ids` and `attention_mask`.

    Raises:
        ValueError: If an argument is invalid or no window is left.
    """
    _check_level(level)
    _check_mapping(mapping, level)
    seq_len = _resolve_seq_len(seq_len, level)
    if max_windows is not None and (
        isinstance(max_windows, bool) or not isinstance(max_windows, int) or max_windows < 1
    ):
        raise ValueError(f"max_windows must be a positive integer or None, got {max_windows!r}.")

    raw_lines = load_text_dataset("wikitext2", "train", data_dir, lowercase=False)["text"]
    mapped = _mapped_lines(wikitext_lm_lines(raw_lines), tokenizer, level, mapping)
    stream = _nonempty_stream(mapped, tokenizer, "The WikiText-2 outlier corpus")

    dataset = _windows_dataset(stream, seq_len, max_windows)
    logger.info("WikiText-2 outlier corpus: %d tokens, %d windows kept", len(stream), len(dataset))
    return dataset


def load_lm_ood_suite(
    tokenizer: PreTrainedTokenizerFast,
    data_dir: PathLike | None = None,
    level: str = "word",
    seq_len: int | None = None,
    mapping: str = "ptb",
) -> dict[str, datasets.Dataset]:
    """Load the five English Web Treebank genres as OOD windows in PTB's vocabulary.

    Each genre uses both its dev and its test sentences (the UD English-EWT files), one
    sentence per line, mapped by `map_to_ptb_vocabulary` and followed by `<eos>`.

    Args:
        tokenizer: The in-distribution tokenizer from `build_lm_tokenizer`.
        data_dir: Folder that contains `english_web_treebank/ewt_sentences.tsv`. When None,
            `$OE_NLP_DATA_DIR` is used, else the Hub.
        level: "word" or "char", the level of `tokenizer`.
        seq_len: Next-token predictions per window. Defaults to 70 (word) or 150 (char).
        mapping: "ptb" or "paper", the `mapping` of `map_to_ptb_vocabulary`.

    Returns:
        "ewt_answers", "ewt_email", "ewt_newsgroup", "ewt_reviews", "ewt_weblog" -> Dataset with
        the columns `input_ids` and `attention_mask`, in that order.

    Raises:
        ValueError: If an argument is invalid or a genre has no sentence.
    """
    _check_level(level)
    _check_mapping(mapping, level)
    seq_len = _resolve_seq_len(seq_len, level)

    suite = {}
    for genre in EWT_GENRES:
        name = f"ewt_{genre}"
        texts = load_text_dataset(name, "test", data_dir, lowercase=False)["text"]
        mapped = _mapped_lines(texts, tokenizer, level, mapping)
        stream = _nonempty_stream(mapped, tokenizer, f"The OOD set {name!r}")
        suite[name] = _windows_dataset(stream, seq_len)
        logger.info(
            "%s: %d sentences, %d tokens, %d windows", name, len(texts), len(stream), len(suite[name])
        )

    return suite
