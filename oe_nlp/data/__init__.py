"""Data sets for Outlier Exposure: in-distribution tasks, outlier corpora, OOD test sets (text and images)."""

from oe_nlp.data.checks import check_text_columns
from oe_nlp.data.images import (
    IMAGE_REGISTRY,
    SYNTHETIC_KINDS,
    ImageTransform,
    collate_images,
    load_image_dataset,
    load_image_source,
    read_idx,
    synthetic_ood_dataset,
)
from oe_nlp.data.labels import NEWSGROUPS20_LABELS, TREC_COARSE_LABELS, TREC_FINE_LABELS
from oe_nlp.data.lm import (
    build_lm_tokenizer,
    lm_windows,
    load_lm_datasets,
    load_lm_ood_suite,
    load_lm_outlier_dataset,
    map_to_ptb_vocabulary,
)
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
    "IMAGE_REGISTRY",
    "NEWSGROUPS20_LABELS",
    "OOD_SUITES",
    "REGISTRY",
    "SYNTHETIC_KINDS",
    "TREC_COARSE_LABELS",
    "TREC_FINE_LABELS",
    "DatasetSpec",
    "ImageTransform",
    "build_lm_tokenizer",
    "check_text_columns",
    "clean_newsgroup_post",
    "collate_images",
    "get_dataset_spec",
    "hub_requests",
    "lm_windows",
    "load_image_dataset",
    "load_image_source",
    "load_lm_datasets",
    "load_lm_ood_suite",
    "load_lm_outlier_dataset",
    "load_ood_suite",
    "load_outlier_dataset",
    "load_text_dataset",
    "map_to_ptb_vocabulary",
    "no_short",
    "normalize_text",
    "read_idx",
    "resolve_data_dir",
    "synthetic_ood_dataset",
    "wikitext_sentences",
]
