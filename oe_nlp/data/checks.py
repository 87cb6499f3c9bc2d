"""Checks for user-supplied datasets before training or evaluation uses them."""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


# Label value that PyTorch's cross-entropy and the Hugging Face models skip (`ignore_index`).
IGNORE_INDEX = -100

# Out-of-range values quoted in an error message, at most.
_MAX_QUOTED_VALUES = 10


def _column_as_arrow(dataset: datasets.Dataset, column: str) -> Any:
    # The arrow format reads one column without decoding rows, and follows any `select` indices.
    return dataset.with_format("arrow")[column]


def check_label_values(dataset: Any, label_column: str, num_labels: int | None, role: str) -> None:
    """Raise a clear error when an integer label column cannot train a `num_labels`-class classifier.

    Accepted values are class ids in `[0, num_labels)` and -100, which losses ignore. A column of
    only -1 is the placeholder of an unlabelled split, such as the GLUE test splits on the Hub.
    Only a `datasets.Dataset` with an integer label column is checked: an `IterableDataset`,
    a missing column, float labels (regression) and multi-label columns pass unchecked.

    Args:
        dataset: The dataset whose labels to check.
        label_column: Name of the label column.
        num_labels: Number of classes of the model, or None to check only for negative labels.
        role: How messages name the dataset, e.g. "`train_dataset`".

    Raises:
        ValueError: If the split is unlabelled, a label is negative (other than -100), or a class
            id is `num_labels` or more. The message names the values and the fix.
    """
    if not isinstance(dataset, datasets.Dataset) or label_column not in dataset.column_names:
        return

    labels = np.asarray(_column_as_arrow(dataset, label_column))
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        return

    labels = labels[labels != IGNORE_INDEX]
    if labels.size > 0 and np.all(labels == -1):
        raise ValueError(
            f"{role} has no labels: every value of its {label_column!r} column is -1, which marks an "
            "unlabelled split such as the GLUE test split. Train on the train split and evaluate on the "
            "validation split, whose labels are known."
        )

    negative = np.unique(labels[labels < 0])
    if negative.size > 0:
        raise ValueError(
            f"{role} has the invalid label(s) {negative[:_MAX_QUOTED_VALUES].tolist()} in its "
            f"{label_column!r} column. Labels must be class ids >= 0, or {IGNORE_INDEX} for rows the "
            "loss should skip."
        )

    if num_labels is None:
        return

    too_large = np.unique(labels[labels >= num_labels])
    if too_large.size > 0:
        raise ValueError(
            f"{role} has the class id(s) {too_large[:_MAX_QUOTED_VALUES].tolist()} in its {label_column!r} "
            f"column, but the model has num_labels={num_labels}, so class ids must be below {num_labels}. "
            f"Load the model with num_labels={int(too_large.max()) + 1} or more (e.g. "
            "`AutoModelForSequenceClassification.from_pretrained(name, num_labels=...)`), or fix the labels."
        )


def check_sequence_lengths(dataset: Any, max_positions: int, role: str, column: str = "input_ids") -> None:
    """Raise a clear error when a tokenized dataset has sequences longer than the model's positions.

    A model with learned position embeddings, such as BERT, fails inside its forward pass on a
    longer sequence. Only a `datasets.Dataset` with the `column` of token id lists is checked.

    Args:
        dataset: The tokenized dataset.
        max_positions: Maximum sequence length the model accepts (`config.max_position_embeddings`).
        role: How messages name the dataset, e.g. "`outlier_dataset`".
        column: Name of the token id column.

    Raises:
        ValueError: If a sequence is longer than `max_positions`. The message names both lengths
            and the tokenizer settings that fix it.
    """
    if not isinstance(dataset, datasets.Dataset) or column not in dataset.column_names or len(dataset) == 0:
        return

    token_ids = _column_as_arrow(dataset, column)
    if not pa.types.is_list(token_ids.type) and not pa.types.is_large_list(token_ids.type):
        return

    longest = pc.max(pc.list_value_length(token_ids)).as_py()
    if longest is not None and longest > max_positions:
        raise ValueError(
            f"{role} has sequences of up to {longest} tokens in {column!r}, but the model accepts at most "
            f"max_position_embeddings={max_positions}. Tokenize with `truncation=True, "
            f"max_length={max_positions}` (or a smaller `max_length`)."
        )
