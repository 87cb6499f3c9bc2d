"""Tests for the 20 Newsgroups and TREC entries of the data layer: cleaning, readers, Hub mapping."""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
from collections import Counter
from pathlib import Path

import datasets
import pytest
from transformers.utils import logging as hf_logging

from oe_nlp.data import (
    NEWSGROUPS20_LABELS,
    OOD_SUITES,
    TREC_COARSE_LABELS,
    TREC_FINE_LABELS,
    clean_newsgroup_post,
    get_dataset_spec,
    hub_requests,
    load_ood_suite,
    load_text_dataset,
    no_short,
    normalize_text,
)
from oe_nlp.data.labels import TREC_HUB_COARSE_LABELS, TREC_HUB_FINE_LABELS

from .conftest import FIXTURE_DATA as FIXTURES
from .conftest import shared_data_dir

REAL_DATA = shared_data_dir()

TREC_TRAIN = FIXTURES / "trec" / "train_5500.label"
TREC_TEST = FIXTURES / "trec" / "TREC_10.label"

# Line 66 of train_5500.label, whose byte 0xF0 sits between "sister" and "city".
TREC_LINE_66 = "Which city has the oldest relationship as a sister\u00f0city with Los Angeles ?"

POST_WITH_EVERYTHING = """From: joe@bar.edu (Joe Bar)
Subject: Re: RE: Fast cars
Organization: Bar University
Lines: 14

In article <1993Apr5.1@foo.com> ann@foo.com (Ann) writes:
> Which car is fastest?
>> Nobody knows.

The Ferrari, I think.
Ann Smith wrote:

|> Are you sure?
: quite
Yes I am sure.
--
Joe Bar, joe@bar.edu
"""


@pytest.fixture(autouse=True)
def _no_data_dir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OE_NLP_DATA_DIR", raising=False)


@pytest.fixture
def propagate_hf_logs() -> None:
    """Let caplog see records of the transformers logger tree, which does not propagate by default."""
    hf_logging.enable_propagation()
    yield
    hf_logging.disable_propagation()


class FakeHub:
    """Stand-in for datasets.load_dataset that returns `rows` with optional `features`."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.rows: list[dict] = []
        self.features: datasets.Features | None = None

    def load_dataset(self, **kwargs) -> datasets.Dataset:
        self.calls.append(kwargs)
        return datasets.Dataset.from_list(self.rows, features=self.features)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    fake = FakeHub()
    monkeypatch.setattr(datasets, "load_dataset", fake.load_dataset)
    return fake


def _write_newsgroups(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def _fixture_records(split: str) -> list[dict]:
    path = FIXTURES / "20newsgroups" / f"20news-bydate-{split}.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _trec_reference_labels(path: Path, coarse: bool) -> Counter:
    """Count the classes of a TREC file with a plain byte-level split, independent of the reader."""
    counts = Counter()
    for line in path.read_bytes().splitlines():
        label = line.split(b" ", 1)[0].decode("ascii")
        counts[label.split(":")[0] if coarse else label] += 1
    return counts


# --------------------------------------------------------------------------- clean_newsgroup_post


def test_clean_post_all_parts() -> None:
    assert clean_newsgroup_post(POST_WITH_EVERYTHING) == "Fast cars\nThe Ferrari, I think.\n\nYes I am sure."


def test_clean_post_without_subject() -> None:
    assert clean_newsgroup_post(POST_WITH_EVERYTHING, keep_subject=False) == (
        "The Ferrari, I think.\n\nYes I am sure."
    )


@pytest.mark.parametrize(
    ("subject_line", "expected"),
    [
        ("Subject: Re: Fast cars", "Fast cars"),
        ("Subject: re: Re^2: RE : Fast cars", "Fast cars"),
        ("subject: Reading list", "Reading list"),
        ("Subject: Re:", ""),
    ],
    ids=["re", "repeated-prefixes", "re-inside-word", "empty-after-prefix"],
)
def test_clean_post_subject_prefixes(subject_line: str, expected: str) -> None:
    post = f"From: a@b.c\n{subject_line}\n\nBody text."

    assert clean_newsgroup_post(post) == (f"{expected}\nBody text." if expected else "Body text.")


def test_clean_post_folded_subject() -> None:
    post = "From: a@b.c\nSubject: Re: a very long\n  subject line\nLines: 1\n\nBody."

    assert clean_newsgroup_post(post) == "a very long subject line\nBody."


def test_clean_post_two_line_attribution() -> None:
    post = (
        "From: a@b.c\nSubject: Q\n\n"
        "In article <1pq@x.edu>, joe@x.edu (Joe Average)\n"
        "writes:\n"
        "> quoted text\n"
        "My answer."
    )

    assert clean_newsgroup_post(post) == "Q\nMy answer."


def test_clean_post_keeps_unquoted_attribution() -> None:
    post = "From: a@b.c\nSubject: Q\n\nShakespeare wrote:\nTo be or not to be."

    assert clean_newsgroup_post(post) == "Q\nShakespeare wrote:\nTo be or not to be."


def test_clean_post_quote_markers() -> None:
    post = (
        "From: a@b.c\nSubject: Q\n\n   > indented quote\n|> bar quote\n: colon quote\nkept | line\nkept: line"
    )

    assert clean_newsgroup_post(post) == "Q\nkept | line\nkept: line"


@pytest.mark.parametrize("separator", ["--", "-- "], ids=["dashes", "dashes-space"])
def test_clean_post_signature(separator: str) -> None:
    post = f"From: a@b.c\nSubject: Q\n\nText -- with dashes.\n---\n{separator}\nJoe\nPhone 555"

    assert clean_newsgroup_post(post) == "Q\nText -- with dashes.\n---"


def test_clean_post_last_separator_wins() -> None:
    post = "From: a@b.c\nSubject: Q\n\nPart one.\n--\nPart two.\n--\nSignature."

    assert clean_newsgroup_post(post) == "Q\nPart one.\n--\nPart two."


def test_clean_post_without_header() -> None:
    post = "Just a paragraph.\n\nAnd another one."

    assert clean_newsgroup_post(post) == "Just a paragraph.\n\nAnd another one."


def test_clean_post_path_fragment_header() -> None:
    # Some bydate posts start with the tail of a folded Path field, before "Subject:".
    post = " cs.utexas.edu!uunet!host\nSubject: Re: Topic\nFrom: x@y.z\n\nBody."

    assert clean_newsgroup_post(post) == "Topic\nBody."


def test_clean_post_crlf() -> None:
    post = "From: a@b.c\r\nSubject: Q\r\n\r\n> quote\r\nBody.\r\n-- \r\nSig"

    assert clean_newsgroup_post(post) == "Q\nBody."


def test_clean_post_only_quotes_is_empty() -> None:
    post = "From: a@b.c\n\njoe writes:\n> all of it quoted\n"

    assert clean_newsgroup_post(post) == ""


def test_clean_post_rejects_bytes() -> None:
    with pytest.raises(TypeError, match="expects a str, got bytes"):
        clean_newsgroup_post(b"From: a@b.c\n\nBody")


# --------------------------------------------------------------------------- no_short


@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        ("I am a big fan of it, ok? Yes.", {}, "big fan it, ok? Yes."),
        ("a bb ccc dddd", {"min_word_length": 4}, "dddd"),
        ("a bb ccc dddd", {"min_word_length": 1, "max_words": 2}, "a bb"),
        ("one\ttwo\n  three", {}, "one two three"),
        ("a b c", {}, ""),
    ],
    ids=["default", "longer-minimum", "word-cut", "whitespace", "all-short"],
)
def test_no_short_cases(text: str, kwargs: dict, expected: str) -> None:
    assert no_short(text, **kwargs) == expected


def test_no_short_counts_after_dropping() -> None:
    text = " ".join(["an", "word"] * 150)

    kept = no_short(text)

    assert kept == " ".join(["word"] * 100)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"min_word_length": 0}, "min_word_length=0"), ({"max_words": 0}, "max_words=0")],
)
def test_no_short_invalid_limits(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        no_short("some words", **kwargs)


# --------------------------------------------------------------------------- registry


def test_new_ood_suites_match_sst2() -> None:
    assert OOD_SUITES["newsgroups20"] == OOD_SUITES["sst2"]
    assert OOD_SUITES["trec"] == OOD_SUITES["sst2"]
    assert len(OOD_SUITES["trec"]) == 10


def test_label_name_tuples() -> None:
    assert len(NEWSGROUPS20_LABELS) == 20
    assert list(NEWSGROUPS20_LABELS) == sorted(NEWSGROUPS20_LABELS)
    assert len(TREC_FINE_LABELS) == 50
    assert list(TREC_FINE_LABELS) == sorted(TREC_FINE_LABELS)
    assert TREC_COARSE_LABELS == ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
    assert sorted(TREC_HUB_FINE_LABELS) == list(TREC_FINE_LABELS)
    assert sorted(TREC_HUB_COARSE_LABELS) == list(TREC_COARSE_LABELS)


def test_spec_rejects_bad_hub_label_names() -> None:
    with pytest.raises(ValueError, match="not a reordering of its label_names"):
        dataclasses.replace(get_dataset_spec("trec_coarse"), hub_label_names=("ABBR", "DESC"))


# --------------------------------------------------------------------------- 20 Newsgroups, local


@pytest.mark.parametrize("name", ["newsgroups20", "newsgroups20_raw", "newsgroups20_noshort"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_newsgroups_fixture_labels(name: str, split: str) -> None:
    dataset = load_text_dataset(name, split, FIXTURES)

    # The fixture contains the first two short posts of every newsgroup.
    assert len(dataset) == 40
    assert Counter(dataset["label"]) == dict.fromkeys(range(20), 2)
    assert dataset.features["label"].names == list(NEWSGROUPS20_LABELS)
    assert dataset.column_names == ["text", "label"]


@pytest.mark.parametrize(
    ("split", "first_text"),
    [
        (
            "train",
            (
                "university violating separation of church/state? It sounds to me like it's just "
                "SCREAMING OUT for parody. Give a copy to your friendly neighbourhood SubGenius preacher; "
                "with luck, he'll run it through the mental mincer and hand you back an outrageously "
                "offensive and gut-bustingly funny parody you can paste over the originals. I can see it "
                "now: The Stool Scroll Thoughts on Religion, Spirituality, and Matters of the Colon "
                "(You can use this text to wipe) mathew"
            ),
        ),
        (
            "test",
            (
                "about the bible quiz answers I am not familiar with, or knowledgeable about the original "
                'language, but I believe there is a word for "idol" and that the translator would have '
                'used the word "idol" instead of "graven image" had the original said "idol." So I think '
                "you're wrong here, but then again I could be too. I just suggesting a way to determine "
                "whether the interpretation you offer is correct. Dean Kaflowitz"
            ),
        ),
    ],
)
def test_newsgroups_cleaned_first_post(split: str, first_text: str) -> None:
    dataset = load_text_dataset("newsgroups20", split, FIXTURES, lowercase=False)

    assert dataset[0]["text"] == first_text


def test_newsgroups_raw_keeps_header() -> None:
    dataset = load_text_dataset("newsgroups20_raw", "train", FIXTURES)

    assert dataset[0]["text"].startswith(
        "from: mathew <mathew@mantis.co.uk> subject: re: university violating separation of "
        "church/state? organization: mantis consultants, cambridge. uk. x-newsreader: rusnews v1.01 "
        "lines: 29 dmn@kepler.unh.edu"
    )
    assert dataset[0]["text"] == normalize_text(_fixture_records("train")[0]["text"])


@pytest.mark.parametrize("split", ["train", "test"])
def test_newsgroups_noshort_matches_functions(split: str) -> None:
    dataset = load_text_dataset("newsgroups20_noshort", split, FIXTURES)

    expected = [
        normalize_text(no_short(clean_newsgroup_post(record["text"]))) for record in _fixture_records(split)
    ]
    assert dataset["text"] == expected
    assert all(len(text.split()) <= 100 for text in dataset["text"])
    assert all(len(word) >= 3 for text in dataset["text"] for word in text.split())


def test_newsgroups_noshort_first_post() -> None:
    dataset = load_text_dataset("newsgroups20_noshort", "test", FIXTURES, lowercase=False)

    assert dataset[0]["text"] == (
        "about the bible quiz answers not familiar with, knowledgeable about the original language, "
        'but believe there word for "idol" and that the translator would have used the word "idol" '
        'instead "graven image" had the original said "idol." think you\'re wrong here, but then '
        "again could too. just suggesting way determine whether the interpretation you offer "
        "correct. Dean Kaflowitz"
    )


def test_newsgroups_drops_empty_posts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, propagate_hf_logs: None
) -> None:
    path = tmp_path / "20newsgroups" / "20news-bydate-train.jsonl.gz"
    _write_newsgroups(
        path,
        [
            {"label": 7, "label_name": "rec.autos", "text": "From: a@b.c\n\njoe writes:\n> all quoted\n"},
            {"label": 8, "label_name": "rec.motorcycles", "text": "From: a@b.c\nSubject: Bikes\n\nFast."},
        ],
    )

    with caplog.at_level(logging.WARNING):
        dataset = load_text_dataset("newsgroups20", "train", tmp_path)

    assert dataset.to_dict() == {"text": ["bikes fast."], "label": [8]}
    assert f"Dropped 1 posts of {path} that are empty after cleaning" in caplog.text


def test_newsgroups_label_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "20newsgroups" / "20news-bydate-test.jsonl.gz"
    _write_newsgroups(path, [{"label": 0, "label_name": "sci.med", "text": "From: a\n\nb"}])

    with pytest.raises(ValueError, match=r"has label 0 but label_name 'sci.med', whose class id is 13"):
        load_text_dataset("newsgroups20", "test", tmp_path)


def test_newsgroups_unknown_group(tmp_path: Path) -> None:
    path = tmp_path / "20newsgroups" / "20news-bydate-test.jsonl.gz"
    _write_newsgroups(path, [{"label": 0, "label_name": "sci.physics", "text": "From: a\n\nb"}])

    with pytest.raises(ValueError, match=r"Unknown newsgroup 'sci.physics' on line 1"):
        load_text_dataset("newsgroups20", "test", tmp_path)


def test_newsgroups_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "20newsgroups" / "20news-bydate-train.jsonl.gz"
    _write_newsgroups(path, [{"label": 0, "text": "From: a\n\nb"}])

    with pytest.raises(ValueError, match=r"lacks the field\(s\) \['label_name'\]"):
        load_text_dataset("newsgroups20", "train", tmp_path)


# --------------------------------------------------------------------------- TREC, local


@pytest.mark.parametrize(("split", "path", "rows"), [("train", TREC_TRAIN, 150), ("test", TREC_TEST, 60)])
def test_trec_fine_fixture_labels(split: str, path: Path, rows: int) -> None:
    dataset = load_text_dataset("trec", split, FIXTURES)
    names = dataset.features["label"].names

    assert len(dataset) == rows
    assert names == list(TREC_FINE_LABELS)
    assert Counter(names[label] for label in dataset["label"]) == _trec_reference_labels(path, coarse=False)


@pytest.mark.parametrize(
    ("split", "label_counts"),
    [
        ("train", {"ABBR": 3, "DESC": 45, "ENTY": 33, "HUM": 27, "LOC": 23, "NUM": 19}),
        ("test", {"DESC": 17, "ENTY": 5, "HUM": 10, "LOC": 10, "NUM": 18}),
    ],
)
def test_trec_coarse_fixture_labels(split: str, label_counts: dict) -> None:
    dataset = load_text_dataset("trec_coarse", split, FIXTURES)
    names = dataset.features["label"].names

    assert names == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert Counter(names[label] for label in dataset["label"]) == label_counts
    assert _trec_reference_labels(TREC_TRAIN if split == "train" else TREC_TEST, coarse=True) == label_counts


def test_trec_fixture_fine_class_count() -> None:
    assert len(_trec_reference_labels(TREC_TRAIN, coarse=False)) == 30
    assert len(_trec_reference_labels(TREC_TEST, coarse=False)) == 20


def test_trec_non_utf8_line() -> None:
    raw_line = TREC_TRAIN.read_bytes().splitlines()[65]
    assert raw_line == b"LOC:city " + TREC_LINE_66.encode("latin-1")
    assert b"\xf0" in raw_line

    dataset = load_text_dataset("trec", "train", FIXTURES, lowercase=False)

    assert dataset[65]["text"] == TREC_LINE_66
    assert load_text_dataset("trec", "train", FIXTURES)[65]["text"] == (
        "which city has the oldest relationship as a sister\u00f0city with los angeles ?"
    )


@pytest.mark.parametrize(
    ("index", "text", "fine", "coarse"),
    [
        (0, "How did serfdom develop in and then leave Russia ?", "DESC:manner", "DESC"),
        (1, "What films featured the character Popeye Doyle ?", "ENTY:cremat", "ENTY"),
        (65, TREC_LINE_66, "LOC:city", "LOC"),
    ],
)
def test_trec_fine_and_coarse_label(index: int, text: str, fine: str, coarse: str) -> None:
    fine_dataset = load_text_dataset("trec", "train", FIXTURES, lowercase=False)
    coarse_dataset = load_text_dataset("trec_coarse", "train", FIXTURES, lowercase=False)

    assert fine_dataset[index]["text"] == text
    assert coarse_dataset[index]["text"] == text
    assert fine_dataset.features["label"].int2str(fine_dataset[index]["label"]) == fine
    assert coarse_dataset.features["label"].int2str(coarse_dataset[index]["label"]) == coarse


def test_trec_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "trec" / "TREC_10.label"
    path.parent.mkdir()
    path.write_bytes(b"NUM:date When was it ?\nDESC What is this ?\n")

    with pytest.raises(
        ValueError, match=r"Invalid line 2 in .*TREC_10.label: expected 'COARSE:fine question'"
    ):
        load_text_dataset("trec", "test", tmp_path)


def test_trec_unknown_class(tmp_path: Path) -> None:
    path = tmp_path / "trec" / "TREC_10.label"
    path.parent.mkdir()
    path.write_bytes(b"NUM:year When was it ?\n")

    with pytest.raises(ValueError, match=r"Unknown TREC class 'NUM:year' on line 1"):
        load_text_dataset("trec", "test", tmp_path)


def test_new_tasks_ood_suites_local() -> None:
    for task in ("newsgroups20", "trec"):
        suite = load_ood_suite(task, FIXTURES)

        assert list(suite) == list(OOD_SUITES["sst2"])
        assert len(suite["snli"]) == 60


# --------------------------------------------------------------------------- Hub requests and loading


NEWSGROUPS_HUB = {"path": "SetFit/20_newsgroups", "name": None, "revision": None}
TREC_HUB = {"path": "CogComp/trec", "name": None, "revision": "refs/convert/parquet"}


@pytest.mark.parametrize(
    ("name", "split", "expected"),
    [
        ("newsgroups20", "train", {**NEWSGROUPS_HUB, "split": "train"}),
        ("newsgroups20", "test", {**NEWSGROUPS_HUB, "split": "test"}),
        ("newsgroups20_noshort", "train", {**NEWSGROUPS_HUB, "split": "train"}),
        ("newsgroups20_noshort", "test", {**NEWSGROUPS_HUB, "split": "test"}),
        ("trec", "train", {**TREC_HUB, "split": "train"}),
        ("trec", "test", {**TREC_HUB, "split": "test"}),
        ("trec_coarse", "train", {**TREC_HUB, "split": "train"}),
        ("trec_coarse", "test", {**TREC_HUB, "split": "test"}),
    ],
)
def test_hub_requests_new_entries(name: str, split: str, expected: dict) -> None:
    assert hub_requests(name, split) == expected


def test_hub_requests_newsgroups_raw() -> None:
    with pytest.raises(ValueError, match="'newsgroups20_raw' has no script-free copy") as error:
        hub_requests("newsgroups20_raw", "train")

    assert "20newsgroups/20news-bydate-train.jsonl.gz" in str(error.value)


def _trec_hub_features(label_column: str, names: tuple[str, ...]) -> datasets.Features:
    return datasets.Features(
        {"text": datasets.Value("string"), label_column: datasets.ClassLabel(names=list(names))}
    )


def test_hub_trec_fine_label_mapping(hub: FakeHub) -> None:
    hub.features = _trec_hub_features("fine_label", TREC_HUB_FINE_LABELS)
    # Hub ids 24, 2 and 44 are DESC:def, ENTY:animal and NUM:period in the Hub's class order.
    hub.rows = [
        {"text": "What is a fuel cell ?", "fine_label": 24},
        {"text": "What is the fastest bird ?", "fine_label": 2},
        {"text": "How long do cats live ?", "fine_label": 44},
    ]

    dataset = load_text_dataset("trec", "train")

    assert hub.calls == [{**TREC_HUB, "split": "train"}]
    names = dataset.features["label"].names
    assert [names[label] for label in dataset["label"]] == ["DESC:def", "ENTY:animal", "NUM:period"]
    assert dataset["label"] == [2, 6, 45]
    assert dataset["text"] == [
        "what is a fuel cell ?",
        "what is the fastest bird ?",
        "how long do cats live ?",
    ]


def test_hub_trec_coarse_label_mapping(hub: FakeHub) -> None:
    hub.features = _trec_hub_features("coarse_label", TREC_HUB_COARSE_LABELS)
    # Hub ids 1 and 2 are ENTY and DESC, the reverse of the sorted order.
    hub.rows = [{"text": "Q one ?", "coarse_label": 1}, {"text": "Q two ?", "coarse_label": 2}]

    dataset = load_text_dataset("trec_coarse", "test")

    assert dataset["label"] == [2, 1]
    assert [dataset.features["label"].int2str(label) for label in dataset["label"]] == ["ENTY", "DESC"]


def test_hub_trec_reordered_classlabel(hub: FakeHub) -> None:
    hub.features = _trec_hub_features("coarse_label", TREC_COARSE_LABELS)
    hub.rows = [{"text": "Q ?", "coarse_label": 1}]

    with pytest.raises(ValueError, match=r"names its 'coarse_label' classes \['ABBR', 'DESC'"):
        load_text_dataset("trec_coarse", "train")


def test_hub_trec_label_out_of_range(hub: FakeHub) -> None:
    hub.rows = [{"text": "Q ?", "coarse_label": 6}]

    with pytest.raises(ValueError, match=r"class id 6 in column 'coarse_label', outside the 6 Hub classes"):
        load_text_dataset("trec_coarse", "train")


def test_hub_newsgroups_not_recleaned(hub: FakeHub) -> None:
    hub.rows = [
        {"text": "Subject: kept as text\n\n> kept quote", "label": 13, "label_text": "sci.med"},
        {"text": "", "label": 0, "label_text": "alt.atheism"},
        {"text": "Ask a doctor.", "label": 19, "label_text": "talk.religion.misc"},
    ]

    dataset = load_text_dataset("newsgroups20", "test")

    assert hub.calls == [{**NEWSGROUPS_HUB, "split": "test"}]
    # The Hub copy is already cleaned by scikit-learn, so nothing is removed, and empty texts go.
    assert dataset.to_dict() == {
        "text": ["subject: kept as text > kept quote", "ask a doctor."],
        "label": [13, 19],
    }
    assert dataset.features["label"].names == list(NEWSGROUPS20_LABELS)


def test_hub_newsgroups_noshort(hub: FakeHub) -> None:
    hub.rows = [
        {"text": "It is a good day to go out on my bike", "label": 8, "label_text": "rec.motorcycles"}
    ]

    dataset = load_text_dataset("newsgroups20_noshort", "train")

    assert dataset.to_dict() == {"text": ["good day out bike"], "label": [8]}


# --------------------------------------------------------------------------- full real data


@pytest.mark.skipif(REAL_DATA is None, reason="the full data directory is not available")
def test_real_newsgroups_counts() -> None:
    for split, rows, atheism, religion in (("train", 11314, 480, 377), ("test", 7532, 319, 251)):
        dataset = load_text_dataset("newsgroups20", split, REAL_DATA)
        counts = Counter(dataset["label"])

        # Every post keeps its subject, so cleaning leaves none empty.
        assert len(dataset) == rows
        assert len(counts) == 20
        assert counts[0] == atheism
        assert counts[19] == religion


@pytest.mark.skipif(REAL_DATA is None, reason="the full data directory is not available")
def test_real_newsgroups_empty_without_subject() -> None:
    for split, empty in (("train", 45), ("test", 37)):
        path = REAL_DATA / "20newsgroups" / f"20news-bydate-{split}.jsonl.gz"
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            posts = [json.loads(line)["text"] for line in handle]

        assert sum(not clean_newsgroup_post(post, keep_subject=False).strip() for post in posts) == empty


@pytest.mark.skipif(REAL_DATA is None, reason="the full data directory is not available")
def test_real_trec_counts() -> None:
    expected_coarse = {
        "train": {"ABBR": 86, "DESC": 1162, "ENTY": 1250, "HUM": 1223, "LOC": 835, "NUM": 896},
        "test": {"ABBR": 9, "DESC": 138, "ENTY": 94, "HUM": 65, "LOC": 81, "NUM": 113},
    }
    for split, coarse_counts in expected_coarse.items():
        fine = load_text_dataset("trec", split, REAL_DATA)
        coarse = load_text_dataset("trec_coarse", split, REAL_DATA)

        assert len(fine) == sum(coarse_counts.values())
        assert Counter(coarse.features["label"].int2str(label) for label in coarse["label"]) == coarse_counts

    train = load_text_dataset("trec", "train", REAL_DATA)
    test = load_text_dataset("trec", "test", REAL_DATA)
    assert len(set(train["label"])) == 50
    assert len(set(test["label"])) == 42
    assert train[65]["text"] == TREC_LINE_66.lower()
