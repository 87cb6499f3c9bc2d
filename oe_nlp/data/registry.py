"""The registry of data sets: in-distribution tasks, outlier corpora and OOD test sets.

Each data set is declared once, as a `DatasetSpec` that records where its local files live
(relative to a data directory) and which Hub repository, config, split, column and revision
back it when no data directory is given.

Hub revisions are commit shas of script-free (Parquet or JSON-lines) repositories, because
`datasets` 4 and later no longer run loading scripts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from oe_nlp.data import readers
from oe_nlp.data.text import wikitext_sentences

LocalReader = Callable[[Sequence[Path]], readers.RawExamples]
HubTextGetter = Callable[[Mapping[str, Any]], str | None]
SentenceSplitter = Callable[[Iterable[str], int, int], list[str]]

SENTIMENT_LABELS = ("negative", "positive")


@dataclass(frozen=True)
class DatasetSpec:
    """Declaration of one data set: its local layout, its Hub source and its columns.

    Attributes:
        name: Registry key, e.g. "sst2" or "ewt_email".
        hub_id: Hub dataset repository, or None when no script-free copy exists.
        hub_config: Hub config name, or None for the default config.
        hub_revision: Pinned Hub commit sha, or None when none could be checked.
        splits: Our split name ("train", "validation", "test") -> Hub split expression.
        text_column: Hub column with the text.
        label_column: Hub column with the class id, or None for outlier corpora and OOD sets.
        label_names: Class names in class-id order, or None for unlabelled sets.
        local_files: Our split name -> file paths relative to the data directory.
        description: One-line description of the data set and its source.
        local_reader: Function that reads the local files of one split.
        hub_text: Function that returns the raw text of a Hub row, or None to drop the row.
            When None, the text is the row's `text_column` value.
        hub_data_dir: Folder inside the Hub repository passed as `data_dir`, or None.
        sentence_splitter: Function that turns raw corpus lines into outlier sentences,
            called with (lines, min_tokens, max_tokens). When None, each text is one
            outlier example.
    """

    name: str
    hub_id: str | None
    hub_config: str | None
    hub_revision: str | None
    splits: dict[str, str]
    text_column: str
    label_column: str | None
    label_names: tuple[str, ...] | None
    local_files: dict[str, tuple[str, ...]]
    description: str
    local_reader: LocalReader = field(repr=False, compare=False, kw_only=True)
    hub_text: HubTextGetter | None = field(default=None, repr=False, compare=False, kw_only=True)
    hub_data_dir: str | None = field(default=None, kw_only=True)
    sentence_splitter: SentenceSplitter | None = field(default=None, repr=False, compare=False, kw_only=True)

    def __post_init__(self) -> None:
        unknown_splits = set(self.local_files) - set(self.splits)
        if unknown_splits:
            raise ValueError(
                f"DatasetSpec {self.name!r} lists local files for splits {sorted(unknown_splits)} "
                f"that are not among its splits {list(self.splits)}."
            )

        if (self.label_column is None) != (self.label_names is None):
            raise ValueError(
                f"DatasetSpec {self.name!r} must set label_column and label_names together, "
                f"got label_column={self.label_column!r}, label_names={self.label_names!r}."
            )

    @property
    def is_labelled(self) -> bool:
        """Whether the data set has class labels."""
        return self.label_names is not None


def _sentiment_specs() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name="sst2",
            hub_id="SetFit/sst2",
            hub_config=None,
            hub_revision="00ea8ccb7a54b4e3780a3e51aa3f80361ff849c0",
            splits={"train": "train", "validation": "validation", "test": "test"},
            text_column="text",
            label_column="label",
            label_names=SENTIMENT_LABELS,
            local_files={
                "train": ("sst/stsa/stsa.binary.train",),
                "validation": ("sst/stsa/stsa.binary.dev",),
                "test": ("sst/stsa/stsa.binary.test",),
            },
            description=(
                "SST-2 at sentence level (Socher et al. 2013), binary with neutral sentences "
                "removed: 6,920 / 872 / 1,821 sentences."
            ),
            local_reader=readers.read_label_prefixed_lines,
        ),
        DatasetSpec(
            name="glue_sst2",
            hub_id="nyu-mll/glue",
            hub_config="sst2",
            hub_revision="bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c",
            splits={"train": "train", "validation": "validation"},
            text_column="sentence",
            label_column="label",
            label_names=SENTIMENT_LABELS,
            local_files={
                "train": ("sst/glue_sst2/train.tsv",),
                "validation": ("sst/glue_sst2/dev.tsv",),
            },
            description=(
                "GLUE SST-2: 67,349 training phrases and sentences, 872 validation sentences. "
                "The GLUE test split has no labels, so it is not offered."
            ),
            local_reader=readers.read_glue_tsv,
        ),
    ]


def _outlier_specs() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name="wikitext2",
            hub_id="Salesforce/wikitext",
            hub_config="wikitext-2-v1",
            hub_revision="b08601e04326c79dfdd32d625aee71d232d685c3",
            splits={"train": "train", "validation": "validation", "test": "test"},
            text_column="text",
            label_column=None,
            label_names=None,
            local_files={
                "train": ("wikitext-2/wiki.train.tokens",),
                "validation": ("wikitext-2/wiki.valid.tokens",),
                "test": ("wikitext-2/wiki.test.tokens",),
            },
            description=(
                "WikiText-2 v1, tokenised (Merity et al. 2016), one row per line. "
                "load_outlier_dataset splits it into sentences."
            ),
            local_reader=readers.read_plain_lines,
            sentence_splitter=wikitext_sentences,
        ),
    ]


def _ewt_spec(genre: str) -> DatasetSpec:
    return DatasetSpec(
        name=f"ewt_{genre}",
        hub_id="universal-dependencies/universal_dependencies",
        hub_config=None,
        # A commit of the Parquet export branch (refs/convert/parquet), because the main
        # branch contains a loading script.
        # NOTE: loading this revision with data_dir="en_ewt" is untested (the tests run offline).
        hub_revision="ff56634a97139d1fdf70ea7b03019d19ef2ffc27",
        splits={"test": "validation+test"},
        text_column="text",
        label_column=None,
        label_names=None,
        local_files={"test": ("english_web_treebank/ewt_sentences.tsv",)},
        description=(
            f"English Web Treebank, {genre} genre: UD English-EWT dev and test sentences "
            "(local files from UD v2.15, the Hub copy from an older UD release)."
        ),
        local_reader=partial(readers.read_ewt_genre, genre=genre),
        hub_text=partial(readers.ewt_hub_genre_text, genre=genre),
        hub_data_dir="en_ewt",
    )


def _ood_specs() -> list[DatasetSpec]:
    specs = [
        DatasetSpec(
            name="snli",
            hub_id="stanfordnlp/snli",
            hub_config=None,
            hub_revision="cdb5c3d5eed6ead6e5a341c8e56e669bb666725b",
            splits={"test": "test"},
            text_column="hypothesis",
            label_column=None,
            label_names=None,
            local_files={"test": ("snli/s2.test",)},
            description="SNLI 1.0 test hypotheses with a gold label (9,824).",
            local_reader=readers.read_plain_lines,
            hub_text=readers.snli_hub_hypothesis,
        ),
        DatasetSpec(
            name="imdb",
            hub_id="stanfordnlp/imdb",
            hub_config=None,
            hub_revision="e6281661ce1c48d982bc483cf8a173c1bbeb5d31",
            splits={"test": "test"},
            text_column="text",
            label_column=None,
            label_names=None,
            local_files={"test": ("imdb/aclImdb-test.jsonl.gz",)},
            description="IMDB movie reviews (Maas et al. 2011), test split (25,000).",
            local_reader=readers.read_jsonl_gz_texts,
        ),
        DatasetSpec(
            name="multi30k",
            hub_id="bentrevett/multi30k",
            hub_config=None,
            # Later commits only edit the README, so this revision has the current data files.
            hub_revision="37e118600232bb5298ca011a8a7e7a44e863c36a",
            splits={"test": "train"},
            text_column="en",
            label_column=None,
            label_names=None,
            local_files={"test": ("multi30k/oe_reformatted/train.txt",)},
            description=(
                "Multi30K English training captions (29,000), the file Hendrycks et al. (2019) used. "
                "The Hub copy is untokenised and keeps the original casing."
            ),
            local_reader=readers.read_csv_first_column,
        ),
        DatasetSpec(
            name="wmt16",
            hub_id="wmt/wmt16",
            hub_config="de-en",
            hub_revision="41d8a4013aa1489f28fea60ec0932af246086482",
            splits={"test": "test"},
            text_column="translation",
            label_column=None,
            label_names=None,
            local_files={"test": ("wmt16/wmt16_sentences",)},
            description=(
                "WMT16 English news sentences. Locally the newstest 2009-2016 file of Hendrycks et al. "
                "(2019), 22,191 lines. On the Hub the English side of the de-en test split (newstest2016)."
            ),
            local_reader=readers.read_plain_lines,
            hub_text=readers.wmt16_hub_english,
        ),
        DatasetSpec(
            name="yelp",
            hub_id="Yelp/yelp_review_full",
            hub_config=None,
            hub_revision="c1f9ee939b7d05667af864ee1cb066393154bf85",
            splits={"test": "test"},
            text_column="text",
            label_column=None,
            label_names=None,
            local_files={"test": ("yelp/textfooler_yelp_polarity_1000.txt",)},
            description=(
                "Yelp reviews. Locally 1,000 Yelp polarity test reviews (TextFooler subset). On the "
                "Hub the Yelp review full test split (50,000), which Hendrycks et al. (2019) used."
            ),
            local_reader=readers.read_yelp_textfooler,
            hub_text=readers.yelp_hub_text,
        ),
    ]
    genres = ("answers", "email", "newsgroup", "reviews", "weblog")
    return specs + [_ewt_spec(genre) for genre in genres]


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec for spec in _sentiment_specs() + _outlier_specs() + _ood_specs()
}

OOD_SUITES: dict[str, tuple[str, ...]] = {
    "sst2": (
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
    ),
}


def get_dataset_spec(name: str) -> DatasetSpec:
    """Look up a data set in the registry.

    Args:
        name: Registry key, e.g. "sst2".

    Returns:
        The data set's spec.

    Raises:
        ValueError: If the name is not registered. The message lists the known names.
    """
    if name not in REGISTRY:
        raise ValueError(f"Unknown data set {name!r}. Known data sets: {', '.join(sorted(REGISTRY))}.")

    return REGISTRY[name]
