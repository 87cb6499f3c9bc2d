"""Tests for the language-model data: PTB tokenizers, vocabulary mapping, windows, loaders, Hub requests."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import datasets
import pytest
from transformers import AutoTokenizer

from oe_nlp.data import (
    build_lm_tokenizer,
    get_dataset_spec,
    lm_windows,
    load_lm_datasets,
    load_lm_ood_suite,
    load_lm_outlier_dataset,
    map_to_ptb_vocabulary,
)
from oe_nlp.data.lm import SPACE_SYMBOL, encode_lines, line_symbols

from .conftest import FIXTURE_DATA

PTB_FIXTURE = FIXTURE_DATA / "ptb"
EWT_GENRES = ("answers", "email", "newsgroup", "reviews", "weblog")


@pytest.fixture(autouse=True)
def _no_data_dir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OE_NLP_DATA_DIR", raising=False)


def _ptb_lines(split_file: str) -> list[str]:
    return (PTB_FIXTURE / split_file).read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def word_tokenizer():
    return build_lm_tokenizer(_ptb_lines("ptb.train.txt"), "word")


@pytest.fixture(scope="module")
def char_tokenizer():
    return build_lm_tokenizer(_ptb_lines("ptb.train.txt"), "char")


def _expected_vocabulary(counts: Counter) -> dict[str, int]:
    """Build the expected vocabulary: special tokens first, then by count, ties by code points."""
    vocabulary = {"<unk>": 0, "<pad>": 1, "<eos>": 2}
    for word in sorted((word for word in counts if word not in vocabulary), key=lambda w: (-counts[w], w)):
        vocabulary[word] = len(vocabulary)
    return vocabulary


# --------------------------------------------------------------------------- tokenizers


def test_word_tokenizer_vocabulary_order(word_tokenizer) -> None:
    counts = Counter(word for line in _ptb_lines("ptb.train.txt") for word in line.split())

    assert word_tokenizer.get_vocab() == _expected_vocabulary(counts)
    assert len(word_tokenizer) == 1619
    assert (word_tokenizer.unk_token, word_tokenizer.pad_token, word_tokenizer.eos_token) == (
        "<unk>",
        "<pad>",
        "<eos>",
    )
    assert (word_tokenizer.unk_token_id, word_tokenizer.pad_token_id, word_tokenizer.eos_token_id) == (
        0,
        1,
        2,
    )


def test_word_tokenizer_most_frequent_words(word_tokenizer) -> None:
    vocabulary = word_tokenizer.get_vocab()

    # "the" (367 times in the fixture), "N" (249) and "of" (198). "<unk>" (338) is a special token.
    assert vocabulary["the"] == 3
    assert vocabulary["N"] == 4
    assert vocabulary["of"] == 5


def test_char_tokenizer_vocabulary_order(char_tokenizer) -> None:
    counts = Counter()
    for line in _ptb_lines("ptb.train.txt"):
        words = line.split()
        counts[SPACE_SYMBOL] += len(words) - 1
        for word in words:
            counts.update([word] if word == "<unk>" else list(word))

    vocabulary = char_tokenizer.get_vocab()
    assert vocabulary == _expected_vocabulary(counts)
    assert len(char_tokenizer) == 42
    assert "<" not in vocabulary
    assert vocabulary[SPACE_SYMBOL] == 3


def test_char_tokenizer_encodes_symbols(char_tokenizer) -> None:
    vocabulary = char_tokenizer.get_vocab()
    ids = char_tokenizer("an <unk> N", add_special_tokens=False)["input_ids"]

    expected = [vocabulary[symbol] for symbol in ["a", "n", SPACE_SYMBOL, "<unk>", SPACE_SYMBOL, "N"]]
    assert ids == expected
    assert line_symbols("  an <unk>   N ") == ["a", "n", SPACE_SYMBOL, "<unk>", SPACE_SYMBOL, "N"]


def test_word_tokenizer_unknown_word(word_tokenizer) -> None:
    vocabulary = word_tokenizer.get_vocab()
    ids = word_tokenizer("the zyzzyva of", add_special_tokens=False)["input_ids"]

    assert ids == [vocabulary["the"], 0, vocabulary["of"]]


@pytest.mark.parametrize("level", ["word", "char"])
def test_tokenizer_save_load_round_trip(level: str, tmp_path: Path) -> None:
    tokenizer = build_lm_tokenizer(_ptb_lines("ptb.train.txt"), level)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = _ptb_lines("ptb.valid.txt")[:5]

    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert (
        loaded(text, add_special_tokens=False)["input_ids"]
        == tokenizer(text, add_special_tokens=False)["input_ids"]
    )
    assert (loaded.unk_token_id, loaded.pad_token_id, loaded.eos_token_id) == (0, 1, 2)
    assert loaded.padding_side == "right"


def test_tokenizer_bad_input() -> None:
    with pytest.raises(ValueError, match="Unknown level 'bpe'"):
        build_lm_tokenizer(["a b"], "bpe")

    with pytest.raises(ValueError, match="contains no words"):
        build_lm_tokenizer(["", "  "], "word")

    with pytest.raises(TypeError, match="single str"):
        build_lm_tokenizer("a b c", "word")

    with pytest.raises(ValueError, match="contains '_'"):
        build_lm_tokenizer(["snake_case"], "char")


# --------------------------------------------------------------------------- vocabulary mapping

WORD_VOCABULARY = {
    "<unk>", "<pad>", "<eos>", "the", "game", "'s", "was", "sold", "in", "N", "copies", "a", "10-year",
    "deal", "he", "do", "did", "n't", "know", "$", "for", "u.s.", "stock", "it", "off", "mr.", "smith",
}  # fmt: skip

CHAR_VOCABULARY = set("abcdefghijklmnopqrstuvwxyz$&'.-N") | {"<unk>", "<pad>", "<eos>", SPACE_SYMBOL}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # WikiText: joined @,@ / @.@ / @-@ marks, numbers and % as N, punctuation dropped.
        (
            " The game 's deal was sold in 2011 , 1 @,@ 000 copies ( 3 @.@ 5 % ) ; a 10 @-@ year deal . ",
            "the game 's deal was sold in N N copies N N a 10-year deal",
        ),
        # An unknown hyphenated word is one <unk>, as in PTB. WikiText's own <unk> stays.
        (" a role @-@ playing game <unk> . ", "a <unk> game <unk>"),
        # WikiText's "don 't" becomes PTB's "do n't".
        (" He don 't know . ", "he do n't know"),
        # Raw EWT-style text: clitics, $ split from the digits, abbreviations kept.
        (
            "He didn't sell the U.S. stock for $5, Mr. Smith's deal.",
            "he did n't <unk> the u.s. stock for $ N mr. smith 's deal",
        ),
        ("It’s 50% off!!", "it 's N N off"),
        ("“The Game” -- 1/2 of 8.47 …", "the game N <unk> N"),
    ],
)
def test_map_word_level(line: str, expected: str) -> None:
    assert map_to_ptb_vocabulary(line, WORD_VOCABULARY, "word") == expected


def test_map_word_level_keeps_punctuation_as_unk() -> None:
    mapped = map_to_ptb_vocabulary(
        "He did n't know , mr. Smith .", WORD_VOCABULARY, "word", drop_punctuation=False
    )

    assert mapped == "he did n't know <unk> mr. smith <unk>"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (" The role @-@ playing game , 1 @,@ 000 copies . ", "the role-playing game N copies"),
        ("Ça coûte $5 (café)!", "a cote $ N caf"),
        ("snake_case <unk> it's", "snakecase <unk> it 's"),
        ("… ; ,", ""),
    ],
)
def test_map_char_level(line: str, expected: str) -> None:
    assert map_to_ptb_vocabulary(line, CHAR_VOCABULARY, "char") == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Case, digits and punctuation kept, so "The", "2011", "1,000", "," and "." are all <unk>.
        (
            " The game 's deal was sold in 2011 , 1 @,@ 000 copies . ",
            "<unk> game 's deal was sold in <unk> <unk> <unk> copies <unk>",
        ),
        # Clitics are still split as PTB does. "He" and "Smith" are unknown with their capitals.
        ("He didn't know, Mr. Smith.", "<unk> did n't know <unk> <unk> <unk> <unk>"),
        # A symbol PTB has stays.
        ("for $5", "for $ <unk>"),
    ],
)
def test_map_word_level_as_the_paper(line: str, expected: str) -> None:
    assert map_to_ptb_vocabulary(line, WORD_VOCABULARY, "word", mapping="paper") == expected


def test_map_paper_mapping_can_drop_punctuation() -> None:
    mapped = map_to_ptb_vocabulary(
        "He did n't know , it .", WORD_VOCABULARY, "word", mapping="paper", drop_punctuation=True
    )

    assert mapped == "<unk> did n't know it"


def test_map_mapping_errors() -> None:
    with pytest.raises(ValueError, match=r"Unknown text mapping 'raw'. Set it to one of \['ptb', 'paper'\]"):
        map_to_ptb_vocabulary("a", WORD_VOCABULARY, "word", mapping="raw")
    with pytest.raises(ValueError, match="word level only.*Use mapping='ptb'"):
        map_to_ptb_vocabulary("a", CHAR_VOCABULARY, "char", mapping="paper")


def test_map_unknown_level() -> None:
    with pytest.raises(ValueError, match="Unknown level 'byte'"):
        map_to_ptb_vocabulary("a", WORD_VOCABULARY, "byte")


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (8, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7]]),
        (7, [[0, 1, 2, 3], [3, 4, 5, 6]]),
        (5, [[0, 1, 2, 3], [3, 4]]),
        (2, [[0, 1]]),
        (1, []),
    ],
)
def test_lm_windows_exact_ids(length: int, expected: list[list[int]]) -> None:
    assert lm_windows(range(length), window=4, stride=3) == expected


def test_lm_windows_overlapping_stride() -> None:
    assert lm_windows([5, 6, 7, 8], window=3, stride=1) == [[5, 6, 7], [6, 7, 8], [7, 8]]


@pytest.mark.parametrize(
    ("window", "stride", "message"),
    [(1, 1, "window must be an integer of at least 2"), (4, 0, "stride must be"), (4, 4, "stride must be")],
)
def test_lm_windows_invalid(window: int, stride: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lm_windows([1, 2, 3], window=window, stride=stride)


def test_encode_lines_appends_eos(word_tokenizer) -> None:
    vocabulary = word_tokenizer.get_vocab()
    stream = encode_lines(["the N", "  ", " of  the "], word_tokenizer)

    assert stream == [vocabulary["the"], vocabulary["N"], 2, vocabulary["of"], vocabulary["the"], 2]


# --------------------------------------------------------------------------- PTB splits


@pytest.mark.parametrize("level", ["word", "char"])
def test_ptb_windows_cover_stream(level: str) -> None:
    splits, tokenizer = load_lm_datasets(FIXTURE_DATA, level)
    seq_len = 70 if level == "word" else 150
    eos = tokenizer.eos_token_id

    for split, file_name in [
        ("train", "ptb.train.txt"),
        ("validation", "ptb.valid.txt"),
        ("test", "ptb.test.txt"),
    ]:
        lines = _ptb_lines(file_name)
        stream = []
        for line in lines:
            symbols = line.split() if level == "word" else line_symbols(line)
            stream.extend(tokenizer.convert_tokens_to_ids(symbols) + [eos])

        windows = splits[split]["input_ids"]
        assert len(windows) == math.ceil((len(stream) - 1) / seq_len)
        assert windows[0] == stream[: seq_len + 1]
        assert windows[-1] == stream[(len(windows) - 1) * seq_len :]
        rebuilt = windows[0] + [token for window in windows[1:] for token in window[1:]]
        assert rebuilt == stream
        assert splits[split]["attention_mask"][-1] == [1] * len(windows[-1])


def test_ptb_window_counts_and_short_last_window() -> None:
    splits, _ = load_lm_datasets(FIXTURE_DATA, "word")

    # Fixture train: 6,350 words + 300 <eos> = 6,650 tokens -> ceil(6,649 / 70) = 95 windows,
    # the last with 6,650 - 94 * 70 = 70 tokens.
    assert len(splits["train"]) == 95
    assert len(splits["train"][94]["input_ids"]) == 70
    assert len(splits["validation"]) == math.ceil((2213 + 100 - 1) / 70)
    assert len(splits["test"]) == math.ceil((2000 + 100 - 1) / 70)


def test_ptb_reuses_given_tokenizer(word_tokenizer) -> None:
    splits, tokenizer = load_lm_datasets(FIXTURE_DATA, "word", seq_len=10, tokenizer=word_tokenizer)

    assert tokenizer is word_tokenizer
    assert len(splits["train"][0]["input_ids"]) == 11


def test_ptb_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Missing PTB file .*ptb\.train\.txt.*--data_dir"):
        load_lm_datasets(tmp_path, "word")


def test_ptb_empty_split(tmp_path: Path) -> None:
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.train.txt").write_text(" a b \n", encoding="utf-8")
    (tmp_path / "ptb" / "ptb.valid.txt").write_text("", encoding="utf-8")
    (tmp_path / "ptb" / "ptb.test.txt").write_text(" a \n", encoding="utf-8")

    with pytest.raises(ValueError, match="PTB split 'validation' has 0 lines and 0 tokens"):
        load_lm_datasets(tmp_path, "word")


@pytest.mark.parametrize(("level", "seq_len"), [("morpheme", None), ("word", 0), ("char", True)])
def test_ptb_invalid_arguments(level: str, seq_len) -> None:
    with pytest.raises(ValueError, match="Unknown level|seq_len must be a positive integer"):
        load_lm_datasets(FIXTURE_DATA, level, seq_len=seq_len)


# --------------------------------------------------------------------------- Hub path


class FakeHub:
    """Stand-in for datasets.load_dataset: records each call and returns PTB fixture lines."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def load_dataset(self, **kwargs) -> datasets.Dataset:
        self.calls.append(kwargs)
        file_name = {"train": "ptb.train.txt", "validation": "ptb.valid.txt", "test": "ptb.test.txt"}[
            kwargs["split"]
        ]
        return datasets.Dataset.from_dict({"sentence": _ptb_lines(file_name)})


def test_ptb_hub_request(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", fake.load_dataset)

    hub_splits, _ = load_lm_datasets(None, "word")
    local_splits, _ = load_lm_datasets(FIXTURE_DATA, "word")

    assert fake.calls == [
        {
            "path": "ptb-text-only/ptb_text_only",
            "name": None,
            "split": split,
            "revision": "refs/convert/parquet",
            "data_dir": "penn_treebank",
        }
        for split in ("train", "validation", "test")
    ]
    assert hub_splits["train"]["input_ids"] == local_splits["train"]["input_ids"]


def test_ptb_hub_offline_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(**kwargs) -> None:
        raise ConnectionError(
            "Couldn't reach 'ptb-text-only/ptb_text_only' on the Hub (OfflineModeIsEnabled)"
        )

    monkeypatch.setattr(datasets, "load_dataset", offline)

    with pytest.raises(ConnectionError, match=r"--data_dir or set \$OE_NLP_DATA_DIR"):
        load_lm_datasets(None, "word")


def test_ptb_data_dir_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OE_NLP_DATA_DIR", str(FIXTURE_DATA))
    monkeypatch.setattr(datasets, "load_dataset", None)

    splits, _ = load_lm_datasets(None, "word")

    assert len(splits["train"]) == 95


def test_ptb_registry_entry() -> None:
    spec = get_dataset_spec("ptb")

    assert spec.local_files["validation"] == ("ptb/ptb.valid.txt",)
    assert spec.text_column == "sentence"


# --------------------------------------------------------------------------- outlier corpus and OOD sets


def test_outlier_windows_match_mapped_sentences(word_tokenizer) -> None:
    outliers = load_lm_outlier_dataset(word_tokenizer, FIXTURE_DATA, "word")
    vocabulary = word_tokenizer.get_vocab()

    # Line 4 of the fixture is the first paragraph, and its first sentence ends at "lit .".
    first_sentence = map_to_ptb_vocabulary(
        "Senjō no Valkyria 3 : <unk> Chronicles ( Japanese : 戦場のヴァルキュリア3 , lit .",
        vocabulary,
        "word",
    )
    first_ids = word_tokenizer(first_sentence, add_special_tokens=False)["input_ids"] + [2]

    assert first_sentence == "<unk> no <unk> N <unk> <unk> japanese <unk> <unk>"
    assert outliers[0]["input_ids"][: len(first_ids)] == first_ids
    assert all(len(window) == 71 for window in outliers["input_ids"][:-1])


def test_outlier_max_windows(word_tokenizer) -> None:
    every_window = load_lm_outlier_dataset(word_tokenizer, FIXTURE_DATA, "word")
    first_three = load_lm_outlier_dataset(word_tokenizer, FIXTURE_DATA, "word", max_windows=3)

    assert first_three["input_ids"] == every_window["input_ids"][:3]

    with pytest.raises(ValueError, match="max_windows must be a positive integer"):
        load_lm_outlier_dataset(word_tokenizer, FIXTURE_DATA, "word", max_windows=0)


def _ewt_rows(genre: str) -> list[dict[str, str]]:
    with (FIXTURE_DATA / "english_web_treebank" / "ewt_sentences.tsv").open(
        encoding="utf-8", newline=""
    ) as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row for row in rows if row["genre"] == genre]


def test_ewt_fixture_has_dev_and_test_rows_per_genre() -> None:
    for genre in EWT_GENRES:
        splits = Counter(row["split"] for row in _ewt_rows(genre))
        assert splits == {"dev": 15, "test": 15}, genre


@pytest.mark.parametrize("level", ["word", "char"])
def test_ewt_suite_windows(level: str, word_tokenizer, char_tokenizer) -> None:
    tokenizer = word_tokenizer if level == "word" else char_tokenizer
    suite = load_lm_ood_suite(tokenizer, FIXTURE_DATA, level)
    vocabulary = tokenizer.get_vocab()

    assert list(suite) == [f"ewt_{genre}" for genre in EWT_GENRES]
    for genre in EWT_GENRES:
        # Both the dev and the test rows of the genre, in file order.
        mapped = [map_to_ptb_vocabulary(row["text"], vocabulary, level) for row in _ewt_rows(genre)]
        stream = encode_lines(mapped, tokenizer)
        windows = suite[f"ewt_{genre}"]["input_ids"]

        assert windows == lm_windows(stream, window=len(windows[0]), stride=len(windows[0]) - 1)
        assert len(windows[0]) == (71 if level == "word" else 151)


def test_paper_mapping_reaches_both_corpora(word_tokenizer) -> None:
    vocabulary = word_tokenizer.get_vocab()
    suite = load_lm_ood_suite(word_tokenizer, FIXTURE_DATA, "word", mapping="paper")
    first_row = _ewt_rows("answers")[0]["text"]
    expected = map_to_ptb_vocabulary(first_row, vocabulary, "word", mapping="paper").split() + ["<eos>"]
    tokens = word_tokenizer.convert_ids_to_tokens(suite["ewt_answers"][0]["input_ids"])

    assert tokens[: len(expected)] == expected

    outliers = load_lm_outlier_dataset(word_tokenizer, FIXTURE_DATA, "word", mapping="paper")
    default = load_lm_outlier_dataset(word_tokenizer, FIXTURE_DATA, "word")
    unk = word_tokenizer.unk_token_id

    def unk_share(dataset):
        ids = [token for window in dataset["input_ids"] for token in window[1:]]
        return ids.count(unk) / len(ids)

    # Capitals, numbers and punctuation become <unk> instead of being rewritten or dropped.
    assert unk_share(outliers) > unk_share(default) + 0.05


def test_ewt_first_answers_window(word_tokenizer) -> None:
    suite = load_lm_ood_suite(word_tokenizer, FIXTURE_DATA, "word")
    first_row = _ewt_rows("answers")[0]["text"]
    tokens = word_tokenizer.convert_ids_to_tokens(suite["ewt_answers"][0]["input_ids"])
    expected = map_to_ptb_vocabulary(first_row, word_tokenizer.get_vocab(), "word").split() + ["<eos>"]

    assert tokens[: len(expected)] == expected
