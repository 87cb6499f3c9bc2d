"""Checks for user-supplied datasets before training or evaluation uses them."""

from __future__ import annotations

from typing import Any

import datasets

_STRING_DTYPES = ("string", "large_string")
_INTEGER_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _check_is_single_split(dataset: Any) -> None:
    if isinstance(dataset, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        splits = list(dataset)
        example = splits[0] if splits else "train"
        raise TypeError(
            f"Expected a single Dataset, got a {type(dataset).__name__} with the splits {splits}. "
            f'Pass one split, e.g. dataset["{example}"].'
        )

    if not isinstance(dataset, (datasets.Dataset, datasets.IterableDataset)):
        raise TypeError(
            f"Expected a datasets.Dataset, got {type(dataset).__name__}. "
            "Build one with datasets.Dataset.from_dict({'text': [...], 'label': [...]})."
        )


def _check_column_present(
    dataset: datasets.Dataset | datasets.IterableDataset, column: str, role: str
) -> None:
    present = list(dataset.column_names)
    if column in present:
        return

    raise ValueError(
        f"The dataset has no {role} column {column!r}. Its columns are {present}. "
        f'Rename the right column, e.g. dataset = dataset.rename_column("<name>", "{column}").'
    )


def _describe_feature(feature: Any) -> str:
    return getattr(feature, "dtype", None) or type(feature).__name__


def check_text_columns(
    dataset: Any,
    text_column: str = "text",
    label_column: str | None = "label",
) -> None:
    """Raise a clear error unless a user-supplied dataset has usable text and label columns.

    Checks, in order: the object is one split (not a DatasetDict), the text column exists
    and contains strings, and, when `label_column` is not None, the label column exists and
    contains integer class ids (a ClassLabel or an integer Value). An IterableDataset whose
    columns or features are unknown skips the checks that need them.

    Args:
        dataset: The dataset to check.
        text_column: Name of the column that must hold the input texts.
        label_column: Name of the column that must hold class ids, or None for unlabelled
            data such as an outlier corpus or an OOD set.

    Raises:
        TypeError: If a DatasetDict or a non-dataset is passed, or a column has the wrong dtype.
        ValueError: If a column is missing. The message names the columns present.
    """
    _check_is_single_split(dataset)
    if dataset.column_names is None:
        return

    _check_column_present(dataset, text_column, "text")
    if label_column is not None:
        _check_column_present(dataset, label_column, "label")

    features = dataset.features
    if features is None:
        return

    text_feature = features[text_column]
    if _describe_feature(text_feature) not in _STRING_DTYPES:
        raise TypeError(
            f"The text column {text_column!r} must contain strings, but its dtype is "
            f"{_describe_feature(text_feature)}. Convert it, e.g. with "
            f'dataset.cast_column("{text_column}", datasets.Value("string")).'
        )

    if label_column is None:
        return

    label_feature = features[label_column]
    if (
        not isinstance(label_feature, datasets.ClassLabel)
        and _describe_feature(label_feature) not in _INTEGER_DTYPES
    ):
        raise TypeError(
            f"The label column {label_column!r} must contain integer class ids, but its dtype is "
            f"{_describe_feature(label_feature)}. Encode it, e.g. with "
            f'dataset.class_encode_column("{label_column}").'
        )
