"""Data sets for Outlier Exposure on text: in-distribution tasks, outlier corpora, OOD test sets."""

from oe_nlp.data.checks import check_text_columns
from oe_nlp.data.labels import NEWSGROUPS20_LABELS, TREC_COARSE_LABELS, TREC_FINE_LABELS
from oe_nlp.data.loading import (
    DATA_DIR_ENV,
    hub_requests,
    load_ood_suite,
    load_outlier_dataset,
    load_text_dataset,
    resolve_data_dir,
)
from oe_nlp.data.registry import OOD_SUITES, REGISTRY, DatasetSpec, get_dataset_spec
from oe_nlp.data.text import clean_newsgroup_post, no_short, normalize_text, wikitext_sentences

__all__ = [
    "DATA_DIR_ENV",
    "NEWSGROUPS20_LABELS",
    "OOD_SUITES",
    "REGISTRY",
    "TREC_COARSE_LABELS",
    "TREC_FINE_LABELS",
    "DatasetSpec",
    "check_text_columns",
    "clean_newsgroup_post",
    "get_dataset_spec",
    "hub_requests",
    "load_ood_suite",
    "load_outlier_dataset",
    "load_text_dataset",
    "no_short",
    "normalize_text",
    "resolve_data_dir",
    "wikitext_sentences",
]
