"""The registry of data sets: in-distribution tasks, outlier corpora and OOD test sets.

Each data set is declared once, as a `DatasetSpec` that records where its local files live
(relative to a data directory) and which Hub repository, config, split, column and revision
back it when no data directory is given.

Hub revisions are commit shas of script-free (Parquet or JSON-lines) repositories, because
`datasets` 4 and later no longer run loading scripts. Two entries deviate, each with a NOTE
at its spec: 20 Newsgroups has no pinned sha, and TREC names a branch instead of a sha.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from oe_nlp.data import readers
from oe_nlp.data.labels import (
    NEWSGROUPS20_LABELS,
    TREC_COARSE_LABELS,
    TREC_FINE_LABELS,
    TREC_HUB_COARSE_LABELS,
    TREC_HUB_FINE_LABELS,
)
from oe_nlp.data.text import clean_newsgroup_post, no_short, wikitext_sentences

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
        hub_revision: Pinned Hub commit sha, or None when none could be checked. One entry
            (TREC) names the branch `refs/convert/parquet` instead.
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
        hub_label_names: Class names in the Hub copy's class-id order. Hub class ids are
            mapped to `label_names` through these names. When None, Hub ids are used as they are.
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
    hub_label_names: tuple[str, ...] | None = field(default=None, kw_only=True)

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

        if self.hub_label_names is not None:
            self._check_hub_label_names()

    def _check_hub_label_names(self) -> None:
        if self.label_names is None or sorted(self.hub_label_names) != sorted(self.label_names):
            raise ValueError(
                f"DatasetSpec {self.name!r} has hub_label_names {self.hub_label_names} that are not "
                f"a reordering of its label_names {self.label_names}."
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


def _clean_newsgroup_post_no_short(text: str) -> str:
    return no_short(clean_newsgroup_post(text))


def _newsgroups_spec(name: str, transform: Callable[[str], str] | None, description: str) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        hub_id="SetFit/20_newsgroups",
        hub_config=None,
        # NOTE: no commit sha of SetFit/20_newsgroups could be checked, so the Hub copy is
        # loaded from its main branch.
        hub_revision=None,
        splits={"train": "train", "test": "test"},
        text_column="text",
        label_column="label",
        label_names=NEWSGROUPS20_LABELS,
        local_files={
            "train": ("20newsgroups/20news-bydate-train.jsonl.gz",),
            "test": ("20newsgroups/20news-bydate-test.jsonl.gz",),
        },
        description=description,
        local_reader=partial(
            readers.read_newsgroups_jsonl, label_names=NEWSGROUPS20_LABELS, transform=transform
        ),
        hub_label_names=NEWSGROUPS20_LABELS,
    )


def _newsgroups_specs() -> list[DatasetSpec]:
    """Build the three 20 Newsgroups entries: cleaned, raw and cleaned plus no-short.

    SetFit/20_newsgroups was built with scikit-learn's
    `fetch_20newsgroups(remove=("headers", "footers", "quotes"))`, so its text is already
    cleaned (by scikit-learn's rules, which differ in detail from `clean_newsgroup_post`)
    and is not cleaned again. Its order is shuffled, unlike the local files.
    """
    cleaned = _newsgroups_spec(
        "newsgroups20",
        clean_newsgroup_post,
        "20 Newsgroups, bydate split (11,314 / 7,532 posts), cleaned by clean_newsgroup_post: header "
        "dropped except the subject text, quoted replies and signature dropped.",
    )
    raw = dataclasses.replace(
        _newsgroups_spec(
            "newsgroups20_raw",
            None,
            "20 Newsgroups, bydate split, raw posts with headers, quotes and signatures, to measure "
            "what the header adds. Local files only.",
        ),
        # The only script-free Hub copy is already cleaned, so there is no raw Hub copy.
        hub_id=None,
    )
    no_short_spec = dataclasses.replace(
        _newsgroups_spec(
            "newsgroups20_noshort",
            _clean_newsgroup_post_no_short,
            "20 Newsgroups, bydate split, cleaned, then reduced by no_short to words of 3 or more "
            "characters, at most 100 per post, close to the text of Hendrycks et al. (2019).",
        ),
        hub_text=readers.newsgroups_hub_no_short,
    )
    return [cleaned, raw, no_short_spec]


def _trec_spec(name: str, coarse: bool) -> DatasetSpec:
    label_names = TREC_COARSE_LABELS if coarse else TREC_FINE_LABELS
    granularity = "6 coarse classes" if coarse else "50 fine classes"
    return DatasetSpec(
        name=name,
        hub_id="CogComp/trec",
        hub_config=None,
        # The main branch contains a loading script, so the Parquet export branch is used.
        # NOTE: this is a branch name, not a pinned commit sha, because no sha of the branch
        # could be checked, and loading it is untested (the tests run offline).
        hub_revision="refs/convert/parquet",
        splits={"train": "train", "test": "test"},
        # The Hub loading script (huggingface/datasets, datasets/trec/trec.py) replaces the 0xF0
        # byte of training line 66 with a space, where the local reader decodes it as "ð".
        text_column="text",
        label_column="coarse_label" if coarse else "fine_label",
        label_names=label_names,
        local_files={"train": ("trec/train_5500.label",), "test": ("trec/TREC_10.label",)},
        description=(
            f"TREC question classification (Li and Roth 2002), {granularity}: 5,452 training and "
            "500 test (TREC 10) questions."
        ),
        local_reader=partial(readers.read_trec_questions, label_names=label_names, coarse=coarse),
        hub_label_names=TREC_HUB_COARSE_LABELS if coarse else TREC_HUB_FINE_LABELS,
    )


def _trec_specs() -> list[DatasetSpec]:
    # Hendrycks et al. (2019) trained on the 50 fine classes (`fine_grained=True` and a 50-way
    # classifier in eval_OOD_trec.py of hendrycks/outlier-exposure), so "trec" is fine-grained.
    return [_trec_spec("trec", coarse=False), _trec_spec("trec_coarse", coarse=True)]


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


def _language_model_specs() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name="ptb",
            # ptb-text-only/ptb_text_only is the Hub's own copy of Mikolov's PTB text, but its main
            # branch contains a loading script. Its Parquet export branch stores the files under
            # penn_treebank/{train,validation,test}/, hence hub_data_dir.
            # NOTE: this is a branch name, not a pinned commit sha, because no full sha of the branch
            # could be checked, and loading it is untested (the tests run offline).
            hub_id="ptb-text-only/ptb_text_only",
            hub_config=None,
            hub_revision="refs/convert/parquet",
            splits={"train": "train", "validation": "validation", "test": "test"},
            text_column="sentence",
            label_column=None,
            label_names=None,
            local_files={
                "train": ("ptb/ptb.train.txt",),
                "validation": ("ptb/ptb.valid.txt",),
                "test": ("ptb/ptb.test.txt",),
            },
            description=(
                "Penn Treebank, Mikolov's word-level language-modelling version: lower-cased, numbers "
                "as N, 10,000 words including <unk> and <eos>, 42,068 / 3,370 / 3,761 sentences. "
                "Read with oe_nlp.data.lm, not normalize_text."
            ),
            local_reader=readers.read_plain_lines,
            hub_data_dir="penn_treebank",
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
    spec.name: spec
    for spec in _sentiment_specs() + _newsgroups_specs() + _trec_specs() + _outlier_specs() + _ood_specs()
}
REGISTRY.update({spec.name: spec for spec in _language_model_specs()})

# Hendrycks et al. (2019) evaluated SST, 20 Newsgroups and TREC on the same ten OOD sets
# (eval_OOD_sst.py, eval_OOD_20ng.py and eval_OOD_trec.py in hendrycks/outlier-exposure).
# Their scripts list Yelp last; here it follows WMT16 in every suite.
_TEXT_OOD_SETS = (
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

OOD_SUITES: dict[str, tuple[str, ...]] = {
    "sst2": _TEXT_OOD_SETS,
    "newsgroups20": _TEXT_OOD_SETS,
    "trec": _TEXT_OOD_SETS,
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
