"""Tests for the data layer: normalisation, sentence splitting, readers, Hub requests, errors."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections import Counter
from pathlib import Path

import datasets
import pytest

from oe_nlp.data import (
    OOD_SUITES,
    REGISTRY,
    check_text_columns,
    get_dataset_spec,
    hub_requests,
    load_ood_suite,
    load_outlier_dataset,
    load_text_dataset,
    normalize_text,
    resolve_data_dir,
    wikitext_sentences,
)

from .conftest import FIXTURE_DATA as FIXTURES
from .conftest import shared_data_dir

REAL_DATA = shared_data_dir()


@pytest.fixture(autouse=True)
def _no_data_dir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OE_NLP_DATA_DIR", raising=False)


class FakeHub:
    """Stand-in for datasets.load_dataset: records each call and returns `rows` as a Dataset."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.rows: list[dict] = []

    def load_dataset(self, **kwargs) -> datasets.Dataset:
        self.calls.append(kwargs)
        return datasets.Dataset.from_list(self.rows)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    fake = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", fake.load_dataset)
    return fake


# --------------------------------------------------------------------------- normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A -LRB- fine -RRB- film", "a ( fine ) film"),
        ("-lsb- x -rsb- -lcb- y -rcb- -Lrb- z -rRb-", "[ x ] { y } ( z )"),
        ("either\\/or", "either/or"),
        ("one<br />two<br/>three<BR>four<br >five", "one two three four five"),
        ("1 @,@ 000 fans of role @-@ playing paid 3 @.@ 5", "1,000 fans of role-playing paid 3.5"),
        ("  The \t <unk>  cat \n", "the <unk> cat"),
        ("   \n ", ""),
    ],
    ids=[
        "ptb-parens",
        "ptb-all-brackets",
        "escaped-slash",
        "br-tags",
        "wikitext-marks",
        "whitespace",
        "blank",
    ],
)
def test_normalize_text_cases(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_text_keeps_case() -> None:
    assert normalize_text("Keep -LRB- Case -RRB- <unk>", lowercase=False) == "Keep ( Case ) <unk>"


def test_normalize_text_rejects_non_string() -> None:
    with pytest.raises(TypeError, match="expects a str, got int"):
        normalize_text(5)


# --------------------------------------------------------------------------- wikitext_sentences


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([" \n", "\n", ""], []),
        ([" = Valkyria Chronicles = \n", " = = Gameplay = = \n"], []),
        (
            [" The game sold well . It was ported later . \n"],
            ["The game sold well .", "It was ported later ."],
        ),
        (
            [" Who won the prize ? Nobody won it ! Really . \n"],
            ["Who won the prize ?", "Nobody won it !"],
        ),
        ([" @-@ starts with a mark . Then a normal sentence . \n"], ["Then a normal sentence ."]),
        ([" First part is here .  Second part starts with a space . \n"], ["First part is here ."]),
        ([" 1998 was a good year . But not for all . \n"], ["But not for all ."]),
        ([" Short . Long enough here . \n"], ["Long enough here ."]),
        ([" It cost 3 @.@ 5 million dollars . \n"], ["It cost 3 @.@ 5 million dollars ."]),
        ([" No end mark in this line \n"], ["No end mark in this line"]),
    ],
    ids=[
        "blank",
        "heading",
        "two-sentences",
        "question-exclamation",
        "at-start",
        "space-start",
        "digit-start",
        "too-short",
        "decimal-point-no-split",
        "no-end-mark",
    ],
)
def test_wikitext_sentences_filters(lines: list[str], expected: list[str]) -> None:
    assert wikitext_sentences(lines) == expected


def test_wikitext_sentences_length_limit() -> None:
    sixty_tokens = " " + " ".join(["word"] * 59) + " . \n"
    sixty_one_tokens = " " + " ".join(["term"] * 60) + " . \n"

    kept = wikitext_sentences([sixty_tokens, sixty_one_tokens])

    assert kept == [" ".join(["word"] * 59) + " ."]


def test_wikitext_sentences_custom_limits() -> None:
    lines = [" One . Two words . Now three words . \n"]

    assert wikitext_sentences(lines, min_tokens=1, max_tokens=3) == ["One .", "Two words ."]


def test_wikitext_sentences_invalid_limits() -> None:
    with pytest.raises(ValueError, match="min_tokens=5, max_tokens=4"):
        wikitext_sentences([" A b c . \n"], min_tokens=5, max_tokens=4)


# --------------------------------------------------------------------------- registry


def test_ood_suite_order() -> None:
    assert OOD_SUITES["sst2"] == (
        "snli",
        "imdb",
        "multi30k",
        "wmt16",
        "yelp",
        "ewt_answers",
        "ewt_email",
        "ewt_newsgroup",
        "ewt_reviews",
        "ewt_weblog",
    )


def test_registry_names_and_labels() -> None:
    assert set(REGISTRY) == {
        "sst2",
        "glue_sst2",
        "newsgroups20",
        "newsgroups20_raw",
        "newsgroups20_noshort",
        "trec",
        "trec_coarse",
        "wikitext2",
        "ptb",
        *OOD_SUITES["sst2"],
    }
    assert get_dataset_spec("sst2").label_names == ("negative", "positive")
    assert get_dataset_spec("glue_sst2").label_names == ("negative", "positive")
    assert get_dataset_spec("snli").label_names is None


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_fixtures_cover_registry(name: str) -> None:
    for relative_paths in get_dataset_spec(name).local_files.values():
        for relative in relative_paths:
            assert (FIXTURES / relative).is_file(), relative


def test_unknown_dataset_name() -> None:
    with pytest.raises(ValueError, match="Unknown data set 'sst3'") as error:
        get_dataset_spec("sst3")

    assert "sst2" in str(error.value)
    assert "wikitext2" in str(error.value)


def test_unknown_split() -> None:
    with pytest.raises(ValueError, match="Unknown split 'test' for data set 'glue_sst2'") as error:
        load_text_dataset("glue_sst2", "test", FIXTURES)

    assert "Available splits: train, validation." in str(error.value)


def test_unknown_ood_task() -> None:
    with pytest.raises(
        ValueError, match="No OOD suite for task 'imdb'. Tasks with a suite: sst2, newsgroups20, trec."
    ):
        load_ood_suite("imdb", FIXTURES)


# --------------------------------------------------------------------------- local readers


@pytest.mark.parametrize(
    ("split", "rows", "label_counts", "first_text"),
    [
        (
            "train",
            300,
            {0: 129, 1: 171},
            (
                "a stirring , funny and finally transporting re-imagining of beauty and the beast "
                "and 1930s horror films"
            ),
        ),
        ("validation", 60, {0: 39, 1: 21}, "one long string of cliches ."),
        ("test", 60, {0: 29, 1: 31}, "no movement , no yuks , not much of anything ."),
    ],
)
def test_sst2_local_splits(split: str, rows: int, label_counts: dict, first_text: str) -> None:
    dataset = load_text_dataset("sst2", split, FIXTURES)

    assert len(dataset) == rows
    assert Counter(dataset["label"]) == label_counts
    assert dataset[0]["text"] == first_text
    assert dataset.column_names == ["text", "label"]
    assert dataset.features["label"].names == ["negative", "positive"]


def test_sst2_local_ptb_brackets() -> None:
    dataset = load_text_dataset("sst2", "train", FIXTURES)

    # Line 13 of the fixture contains "-lrb- sci-fi -rrb-".
    assert dataset[12]["text"] == (
        "for something as splendid-looking as this particular film , the viewer expects "
        "something special but instead gets ( sci-fi ) rehash ."
    )


@pytest.mark.parametrize(
    ("split", "label_counts", "first_text"),
    [
        ("train", {0: 21, 1: 19}, "hide new secretions from the parental units"),
        ("validation", {0: 22, 1: 18}, "it 's a charming and often affecting journey ."),
    ],
)
def test_glue_sst2_local_splits(split: str, label_counts: dict, first_text: str) -> None:
    dataset = load_text_dataset("glue_sst2", split, FIXTURES)

    assert len(dataset) == 40
    assert Counter(dataset["label"]) == label_counts
    assert dataset[0]["text"] == first_text


def test_wikitext_lines_local() -> None:
    dataset = load_text_dataset("wikitext2", "train", FIXTURES)

    # 150 fixture lines, 40 of them blank.
    assert len(dataset) == 110
    assert dataset[0]["text"] == "= valkyria chronicles iii ="
    assert dataset.column_names == ["text"]


def test_outlier_corpus_local() -> None:
    dataset = load_outlier_dataset(data_dir=FIXTURES)

    # 298 was cross-checked with a token-by-token splitter written separately.
    assert len(dataset) == 298
    assert dataset.column_names == ["text"]
    assert (
        dataset[0]["text"]
        == "senjō no valkyria 3 : <unk> chronicles ( japanese : 戦場のヴァルキュリア3 , lit ."
    )
    assert dataset[1]["text"] == (
        "valkyria of the battlefield 3 ) , commonly referred to as valkyria chronicles iii "
        "outside japan , is a tactical role-playing video game developed by sega and media.vision "
        "for the playstation portable ."
    )
    assert dataset[-1]["text"] == "in time , she received a teaching position ."
    assert not any(text[0].isdigit() or text[0] == "@" for text in dataset["text"])


def _reference_imdb_text(index: int) -> str:
    with gzip.open(FIXTURES / "imdb" / "aclImdb-test.jsonl.gz", "rt", encoding="utf-8") as handle:
        raw = json.loads(handle.readlines()[index])["text"]
    return " ".join(raw.replace("<br />", " ").lower().split())


def test_ood_suite_local_counts() -> None:
    suite = load_ood_suite("sst2", FIXTURES)

    assert list(suite) == list(OOD_SUITES["sst2"])
    assert {name: len(dataset) for name, dataset in suite.items()} == {
        "snli": 60,
        "imdb": 30,
        "multi30k": 60,
        "wmt16": 60,
        "yelp": 30,
        "ewt_answers": 30,
        "ewt_email": 30,
        "ewt_newsgroup": 30,
        "ewt_reviews": 30,
        "ewt_weblog": 30,
    }
    for dataset in suite.values():
        assert dataset.column_names == ["text"]


@pytest.mark.parametrize(
    ("name", "first_text"),
    [
        ("snli", "the church has cracks in the ceiling ."),
        ("multi30k", "two young , white males are outside near many bushes ."),
        ("wmt16", "parliament does not support amendment freeing tymoshenko"),
        (
            "yelp",
            (
                "this is a great little place to grab sushi for lunch . the staff are friendly and the "
                "prices are fair . a great alternative to the typical lunch fair ."
            ),
        ),
        ("ewt_answers", "iguazu is a big or a small country?"),
        ("ewt_email", "i am not going unless lisa promises to get all wasted and boob out."),
        ("ewt_newsgroup", "hope you enjoy the posts and feel free to jump in anywhere."),
        ("ewt_reviews", "rug works for me"),
        ("ewt_weblog", "from the ap comes this story :"),
    ],
)
def test_ood_local_first_text(name: str, first_text: str) -> None:
    assert load_text_dataset(name, "test", FIXTURES)[0]["text"] == first_text


def test_imdb_local_texts() -> None:
    dataset = load_text_dataset("imdb", "test", FIXTURES)

    assert dataset[0]["text"] == _reference_imdb_text(0)
    # Record 3 of the fixture contains "<br /><br />".
    assert dataset[2]["text"] == _reference_imdb_text(2)
    assert "<br" not in dataset[2]["text"]


def test_yelp_local_quotes_and_newlines() -> None:
    dataset = load_text_dataset("yelp", "test", FIXTURES)

    # Raw line 3: 0 "\""this world needs a new plague\ "" - dwight k. schrutte\n\n\nthat 's ...
    assert dataset[2]["text"].startswith(
        '"this world needs a new plague" - dwight k. schrutte that \'s how i felt after my last trip'
    )
    assert not any("\\n" in text or text.startswith('""') for text in dataset["text"])


def test_ewt_local_genres_use_dev_and_test() -> None:
    dataset = load_text_dataset("ewt_weblog", "test", FIXTURES)

    # The fixture keeps 15 dev rows, then 15 test rows, per genre. Row 16 is the first test row.
    assert dataset[15]["text"] == "what if google morphed into googleos?"


def test_lowercase_false_keeps_case() -> None:
    dataset = load_text_dataset("ewt_weblog", "test", FIXTURES, lowercase=False)

    assert dataset[0]["text"] == "From the AP comes this story :"


def test_data_dir_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OE_NLP_DATA_DIR", str(FIXTURES))

    assert resolve_data_dir(None) == FIXTURES
    assert resolve_data_dir("") == FIXTURES
    assert len(load_text_dataset("snli", "test")) == 60


def test_data_dir_argument_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OE_NLP_DATA_DIR", str(tmp_path))

    assert resolve_data_dir(FIXTURES) == FIXTURES


def test_data_dir_unset() -> None:
    assert resolve_data_dir(None) is None


# --------------------------------------------------------------------------- Hub requests


@pytest.mark.parametrize(
    ("name", "split", "expected"),
    [
        ("sst2", "train", ("SetFit/sst2", None, "train", "00ea8ccb7a54b4e3780a3e51aa3f80361ff849c0")),
        (
            "sst2",
            "validation",
            ("SetFit/sst2", None, "validation", "00ea8ccb7a54b4e3780a3e51aa3f80361ff849c0"),
        ),
        ("sst2", "test", ("SetFit/sst2", None, "test", "00ea8ccb7a54b4e3780a3e51aa3f80361ff849c0")),
        ("glue_sst2", "train", ("nyu-mll/glue", "sst2", "train", "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c")),
        (
            "glue_sst2",
            "validation",
            ("nyu-mll/glue", "sst2", "validation", "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"),
        ),
        (
            "wikitext2",
            "train",
            ("Salesforce/wikitext", "wikitext-2-v1", "train", "b08601e04326c79dfdd32d625aee71d232d685c3"),
        ),
        (
            "wikitext2",
            "validation",
            (
                "Salesforce/wikitext",
                "wikitext-2-v1",
                "validation",
                "b08601e04326c79dfdd32d625aee71d232d685c3",
            ),
        ),
        (
            "wikitext2",
            "test",
            ("Salesforce/wikitext", "wikitext-2-v1", "test", "b08601e04326c79dfdd32d625aee71d232d685c3"),
        ),
        ("snli", "test", ("stanfordnlp/snli", None, "test", "cdb5c3d5eed6ead6e5a341c8e56e669bb666725b")),
        ("imdb", "test", ("stanfordnlp/imdb", None, "test", "e6281661ce1c48d982bc483cf8a173c1bbeb5d31")),
        (
            "multi30k",
            "test",
            ("bentrevett/multi30k", None, "train", "37e118600232bb5298ca011a8a7e7a44e863c36a"),
        ),
        ("wmt16", "test", ("wmt/wmt16", "de-en", "test", "41d8a4013aa1489f28fea60ec0932af246086482")),
        ("yelp", "test", ("Yelp/yelp_review_full", None, "test", "c1f9ee939b7d05667af864ee1cb066393154bf85")),
    ],
)
def test_hub_requests_exact(name: str, split: str, expected: tuple) -> None:
    path, config, hub_split, revision = expected

    assert hub_requests(name, split) == {
        "path": path,
        "name": config,
        "split": hub_split,
        "revision": revision,
    }


@pytest.mark.parametrize("genre", ["answers", "email", "newsgroup", "reviews", "weblog"])
def test_hub_requests_ewt(genre: str) -> None:
    assert hub_requests(f"ewt_{genre}", "test") == {
        "path": "universal-dependencies/universal_dependencies",
        "name": None,
        "split": "validation+test",
        "revision": "ff56634a97139d1fdf70ea7b03019d19ef2ffc27",
        "data_dir": "en_ewt",
    }


def test_hub_requests_without_hub_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    local_only = dataclasses.replace(REGISTRY["snli"], name="local_only", hub_id=None)
    monkeypatch.setitem(REGISTRY, "local_only", local_only)

    with pytest.raises(ValueError, match="'local_only' has no script-free copy") as error:
        load_text_dataset("local_only", "test")

    assert "--data_dir" in str(error.value)
    assert "snli/s2.test" in str(error.value)


def test_hub_load_sst2_maps_columns(hub: FakeHub) -> None:
    hub.rows = [
        {"text": "A -LRB- fine -RRB- film", "label": 1, "label_text": "positive"},
        {"text": "Dull\\/boring", "label": 0, "label_text": "negative"},
    ]

    dataset = load_text_dataset("sst2", "train")

    assert hub.calls == [
        {
            "path": "SetFit/sst2",
            "name": None,
            "split": "train",
            "revision": "00ea8ccb7a54b4e3780a3e51aa3f80361ff849c0",
        }
    ]
    assert dataset.column_names == ["text", "label"]
    assert dataset["text"] == ["a ( fine ) film", "dull/boring"]
    assert dataset["label"] == [1, 0]
    assert dataset.features["label"].names == ["negative", "positive"]


def test_hub_load_glue_sentence_column(hub: FakeHub) -> None:
    hub.rows = [{"sentence": "it 's a charming journey . ", "label": 1, "idx": 0}]

    dataset = load_text_dataset("glue_sst2", "validation")

    assert hub.calls[0]["path"] == "nyu-mll/glue"
    assert hub.calls[0]["name"] == "sst2"
    assert hub.calls[0]["split"] == "validation"
    assert dataset.to_dict() == {"text": ["it 's a charming journey ."], "label": [1]}


def test_hub_load_snli_drops_unlabelled(hub: FakeHub) -> None:
    hub.rows = [
        {"premise": "A man .", "hypothesis": "A person is outside .", "label": 0},
        {"premise": "A man .", "hypothesis": "No gold label here .", "label": -1},
    ]

    dataset = load_text_dataset("snli", "test")

    assert dataset["text"] == ["a person is outside ."]


def test_hub_load_wmt16_english_side(hub: FakeHub) -> None:
    hub.rows = [{"translation": {"de": "Guten Tag", "en": "Good @-@ day"}}]

    dataset = load_text_dataset("wmt16", "test")

    assert hub.calls[0]["name"] == "de-en"
    assert dataset["text"] == ["good-day"]


def test_hub_load_yelp_unescapes(hub: FakeHub) -> None:
    hub.rows = [{"label": 4, "text": 'Great place.\\nThe \\"best\\" cr\\u00e8me!'}]

    dataset = load_text_dataset("yelp", "test")

    assert dataset["text"] == ['great place. the "best" crème!']


def test_hub_load_ewt_genre_filter(hub: FakeHub) -> None:
    hub.rows = [
        {"idx": "email-enronsent01_01-0001", "text": "Hi Kay ,"},
        {"idx": "weblog-blogspot.com_x-0001", "text": "From the AP"},
        {"idx": "email-enronsent02_01-0003", "text": "Thanks ."},
    ]

    dataset = load_text_dataset("ewt_email", "test")

    assert hub.calls[0]["data_dir"] == "en_ewt"
    assert hub.calls[0]["split"] == "validation+test"
    assert dataset["text"] == ["hi kay ,", "thanks ."]


def test_hub_outlier_corpus(hub: FakeHub) -> None:
    hub.rows = [
        {"text": ""},
        {"text": " = Title = \n"},
        {"text": " First sentence is here . 2 @,@ 000 people came . Last one @-@ here . \n"},
    ]

    dataset = load_outlier_dataset()

    assert hub.calls[0]["path"] == "Salesforce/wikitext"
    assert hub.calls[0]["name"] == "wikitext-2-v1"
    assert dataset["text"] == ["first sentence is here .", "last one-here ."]


def test_hub_missing_column(hub: FakeHub) -> None:
    hub.rows = [{"review": "x", "label": 1}]

    with pytest.raises(
        ValueError, match=r"lacks the column\(s\) \['text'\]. Its columns are \['review', 'label'\]"
    ):
        load_text_dataset("sst2", "train")


# --------------------------------------------------------------------------- errors


def test_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        load_text_dataset("sst2", "train", tmp_path)

    message = str(error.value)
    assert str(tmp_path / "sst" / "stsa" / "stsa.binary.train") in message
    assert "'sst2'" in message
    assert "--data_dir" in message
    assert "OE_NLP_DATA_DIR" in message
    assert "'SetFit/sst2' from the Hugging Face Hub" in message


def test_data_dir_not_a_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    with pytest.raises(FileNotFoundError, match="does not exist or is not a directory") as error:
        load_text_dataset("sst2", "train", missing)

    assert str(missing) in str(error.value)


def test_empty_outlier_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "wikitext-2" / "wiki.train.tokens"
    corpus.parent.mkdir()
    corpus.write_text(" \n = Title = \n \n 1990 was the year . \n Ok . \n", encoding="utf-8")

    with pytest.raises(ValueError) as error:
        load_outlier_dataset(data_dir=tmp_path)

    message = str(error.value)
    assert "'wikitext2'" in message
    assert "min_tokens=3, max_tokens=60" in message
    assert "Lower min_tokens or raise max_tokens" in message


def test_malformed_label_line(tmp_path: Path) -> None:
    train = tmp_path / "sst" / "stsa" / "stsa.binary.train"
    train.parent.mkdir(parents=True)
    train.write_text("1 good film\npositive great film\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"Invalid label 'positive' in .*stsa.binary.train, line 2"):
        load_text_dataset("sst2", "train", tmp_path)


def test_label_out_of_range(tmp_path: Path) -> None:
    train = tmp_path / "sst" / "stsa" / "stsa.binary.train"
    train.parent.mkdir(parents=True)
    train.write_text("1 good film\n3 great film\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"label values \[3\] outside the class ids 0..1"):
        load_text_dataset("sst2", "train", tmp_path)


# --------------------------------------------------------------------------- check_text_columns


def test_check_columns_accepts_loaded_data() -> None:
    check_text_columns(load_text_dataset("sst2", "validation", FIXTURES))
    check_text_columns(load_text_dataset("snli", "test", FIXTURES), label_column=None)


def test_check_columns_accepts_int_labels() -> None:
    dataset = datasets.Dataset.from_dict({"text": ["a"], "label": [1]})

    assert check_text_columns(dataset) is None


def test_check_columns_missing_text() -> None:
    dataset = datasets.Dataset.from_dict({"sentence": ["a"], "label": [1]})

    with pytest.raises(
        ValueError, match=r"no text column 'text'. Its columns are \['sentence', 'label'\]"
    ) as error:
        check_text_columns(dataset)

    assert 'rename_column("<name>", "text")' in str(error.value)


def test_check_columns_iterable_missing_text() -> None:
    dataset = datasets.Dataset.from_dict({"review": ["a"], "label": [1]}).to_iterable_dataset()

    with pytest.raises(ValueError, match=r"no text column 'text'. Its columns are \['review', 'label'\]"):
        check_text_columns(dataset)


def test_check_columns_missing_label() -> None:
    dataset = datasets.Dataset.from_dict({"text": ["a"], "target": [1]})

    with pytest.raises(ValueError, match=r"no label column 'label'. Its columns are \['text', 'target'\]"):
        check_text_columns(dataset)


def test_check_columns_dataset_dict() -> None:
    dataset = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"], "label": [0]})})

    with pytest.raises(TypeError, match=r"DatasetDict with the splits \['train'\]") as error:
        check_text_columns(dataset)

    assert 'dataset["train"]' in str(error.value)


def test_check_columns_non_string_text() -> None:
    dataset = datasets.Dataset.from_dict({"text": [1, 2], "label": [0, 1]})

    with pytest.raises(TypeError, match="must contain strings, but its dtype is int64"):
        check_text_columns(dataset)


def test_check_columns_string_labels() -> None:
    dataset = datasets.Dataset.from_dict({"text": ["a"], "label": ["pos"]})

    with pytest.raises(TypeError, match="dtype is string") as error:
        check_text_columns(dataset)

    assert 'class_encode_column("label")' in str(error.value)


def test_check_columns_not_a_dataset() -> None:
    with pytest.raises(TypeError, match="Expected a datasets.Dataset, got list"):
        check_text_columns([{"text": "a"}])


# --------------------------------------------------------------------------- full real data


@pytest.mark.skipif(REAL_DATA is None, reason="the full data directory is not available")
def test_real_data_counts() -> None:
    expected = {"train": {0: 3310, 1: 3610}, "validation": {0: 428, 1: 444}, "test": {0: 912, 1: 909}}
    for split, label_counts in expected.items():
        dataset = load_text_dataset("sst2", split, REAL_DATA)

        assert len(dataset) == sum(label_counts.values())
        assert Counter(dataset["label"]) == label_counts

    suite = load_ood_suite("sst2", REAL_DATA)
    assert {name: len(dataset) for name, dataset in suite.items()} == {
        "snli": 9824,
        "imdb": 25000,
        "multi30k": 29000,
        "wmt16": 22191,
        "yelp": 1000,
        "ewt_answers": 419 + 438,
        "ewt_email": 523 + 606,
        "ewt_newsgroup": 274 + 284,
        "ewt_reviews": 554 + 535,
        "ewt_weblog": 231 + 214,
    }
