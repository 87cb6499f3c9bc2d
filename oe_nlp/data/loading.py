"""Loading registered data sets from a local data directory or from the Hugging Face Hub.

With a data directory (the `data_dir` argument, else the `OE_NLP_DATA_DIR` environment
variable), the files the registry lists are read from it. Without one, the data set is
loaded with `datasets.load_dataset` at the pinned Hub revision. Both paths return the same
columns, and every text goes through `normalize_text`.
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets
from transformers.utils import logging

from oe_nlp.data.readers import RawExamples
from oe_nlp.data.registry import OOD_SUITES, DatasetSpec, get_dataset_spec
from oe_nlp.data.text import normalize_text, validate_token_limits

logger = logging.get_logger(__name__)

DATA_DIR_ENV = "OE_NLP_DATA_DIR"

PathLike = str | os.PathLike


def resolve_data_dir(data_dir: PathLike | None) -> Path | None:
    """Choose the local data directory: the argument, else `$OE_NLP_DATA_DIR`, else None.

    An empty string counts as not given. None as the result means "load from the Hub".

    Args:
        data_dir: Folder that mirrors the layout the registry's `local_files` expect.

    Returns:
        The directory, or None when neither the argument nor the variable is set.

    Raises:
        FileNotFoundError: If the chosen path is not an existing directory.
    """
    if data_dir is not None and os.fspath(data_dir) != "":
        path, source = Path(data_dir), "the data_dir argument"
    elif os.environ.get(DATA_DIR_ENV):
        path, source = Path(os.environ[DATA_DIR_ENV]), f"${DATA_DIR_ENV}"
    else:
        return None

    path = path.expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"The data directory {path} (from {source}) does not exist or is not a directory. "
            f"Pass the folder that contains the data sets as --data_dir or in ${DATA_DIR_ENV}, "
            "or give neither to load the data sets from the Hugging Face Hub."
        )

    return path


def _hub_split(spec: DatasetSpec, split: str) -> str:
    if split not in spec.splits:
        raise ValueError(
            f"Unknown split {split!r} for data set {spec.name!r}. Available splits: {', '.join(spec.splits)}."
        )

    return spec.splits[split]


def hub_requests(name: str, split: str) -> dict:
    """Build the keyword arguments `load_text_dataset` passes to `datasets.load_dataset`.

    Nothing is downloaded. The keys are `path`, `name`, `split` and `revision`, plus
    `data_dir` for data sets stored in a subfolder of their Hub repository.

    Args:
        name: Registry key of the data set.
        split: Our split name, e.g. "train" or "test".

    Returns:
        The keyword arguments for `datasets.load_dataset`.

    Raises:
        ValueError: If the name or split is unknown, or the data set has no Hub copy.
    """
    spec = get_dataset_spec(name)
    hub_split = _hub_split(spec, split)
    if spec.hub_id is None:
        raise ValueError(
            f"Data set {name!r} has no script-free copy on the Hugging Face Hub, so it can only "
            f"be read from local files ({', '.join(spec.local_files[split])}). Pass the folder "
            f"that contains them as --data_dir or set ${DATA_DIR_ENV}."
        )

    request = {
        "path": spec.hub_id,
        "name": spec.hub_config,
        "split": hub_split,
        "revision": spec.hub_revision,
    }
    if spec.hub_data_dir is not None:
        request["data_dir"] = spec.hub_data_dir

    return request


def _local_paths(spec: DatasetSpec, split: str, root: Path) -> list[Path]:
    paths = [root / relative for relative in spec.local_files[split]]
    for path in paths:
        if path.is_file():
            continue

        if spec.hub_id is not None:
            hub_hint = (
                f", or give no data directory (and unset ${DATA_DIR_ENV}) to load {spec.hub_id!r} "
                "from the Hugging Face Hub."
            )
        else:
            hub_hint = ". This data set has no Hub copy."
        raise FileNotFoundError(
            f"Missing file {path} for data set {spec.name!r} (split {split!r}) in the data "
            f"directory {root}. Pass the folder that contains {spec.local_files[split][0]} as "
            f"--data_dir or set ${DATA_DIR_ENV} to it{hub_hint}"
        )

    return paths


def _read_hub(spec: DatasetSpec, split: str) -> RawExamples:
    request = hub_requests(spec.name, split)
    logger.info("Loading %s split %r from the Hub with %s", spec.name, split, request)
    try:
        hub_dataset = datasets.load_dataset(**request)
    except ConnectionError as error:
        raise ConnectionError(
            f"Could not load {spec.name!r} from the Hugging Face Hub ({spec.hub_id}): {error}. Without network "
            f"access, pass the local data folder as --data_dir or set ${DATA_DIR_ENV} (see docs/data.md)."
        ) from error

    needed = [spec.text_column] + ([spec.label_column] if spec.label_column else [])
    missing = [column for column in needed if column not in hub_dataset.column_names]
    if missing:
        raise ValueError(
            f"The Hub copy of {spec.name!r} ({spec.hub_id} at revision {spec.hub_revision}) lacks "
            f"the column(s) {missing}. Its columns are {hub_dataset.column_names}. "
            "The repository layout may have changed. Pass --data_dir to read local files instead."
        )

    label_ids = _hub_label_ids(spec, hub_dataset)
    texts, labels = [], []
    for row in hub_dataset:
        text = spec.hub_text(row) if spec.hub_text is not None else row[spec.text_column]
        if text is None:
            continue

        texts.append(text)
        if spec.label_column is not None:
            labels.append(_map_hub_label(spec, row[spec.label_column], label_ids))

    return RawExamples(texts, labels if spec.is_labelled else None)


def _hub_label_ids(spec: DatasetSpec, hub_dataset: datasets.Dataset) -> dict[int, int] | None:
    """Map Hub class ids to our class ids through `spec.hub_label_names`, or None to keep them.

    When the Hub column is a ClassLabel, its names must equal `spec.hub_label_names`, so that a
    reordered Hub copy is caught instead of silently mislabelling every row.
    """
    if spec.hub_label_names is None:
        return None

    feature = hub_dataset.features.get(spec.label_column) if hub_dataset.features else None
    if isinstance(feature, datasets.ClassLabel) and tuple(feature.names) != spec.hub_label_names:
        raise ValueError(
            f"The Hub copy of {spec.name!r} ({spec.hub_id} at revision {spec.hub_revision}) names its "
            f"{spec.label_column!r} classes {feature.names}, expected {list(spec.hub_label_names)}. "
            "The repository layout may have changed. Pass --data_dir to read local files instead."
        )

    our_ids = {name: index for index, name in enumerate(spec.label_names)}
    return {hub_id: our_ids[name] for hub_id, name in enumerate(spec.hub_label_names)}


def _map_hub_label(spec: DatasetSpec, hub_label: int, label_ids: dict[int, int] | None) -> int:
    if label_ids is None:
        return hub_label

    if hub_label not in label_ids:
        raise ValueError(
            f"The Hub copy of {spec.name!r} has the class id {hub_label!r} in column "
            f"{spec.label_column!r}, outside the {len(label_ids)} Hub classes {list(spec.hub_label_names)}."
        )

    return label_ids[hub_label]


def _read_raw(spec: DatasetSpec, split: str, data_dir: PathLike | None) -> RawExamples:
    _hub_split(spec, split)
    root = resolve_data_dir(data_dir)
    if root is None:
        return _read_hub(spec, split)

    paths = _local_paths(spec, split, root)
    logger.info("Reading %s split %r from %s", spec.name, split, ", ".join(map(str, paths)))
    return spec.local_reader(paths)


def _check_labels(spec: DatasetSpec, labels: list[int]) -> None:
    class_count = len(spec.label_names)
    invalid = sorted({label for label in labels if not 0 <= label < class_count})
    if invalid:
        raise ValueError(
            f"Data set {spec.name!r} has label values {invalid} outside the class ids "
            f"0..{class_count - 1} of {list(spec.label_names)}."
        )


def _build_dataset(spec: DatasetSpec, raw: RawExamples, lowercase: bool) -> datasets.Dataset:
    texts = [normalize_text(text, lowercase) for text in raw.texts]
    nonempty_indices = [index for index, text in enumerate(texts) if text]
    if len(nonempty_indices) < len(texts):
        dropped = len(texts) - len(nonempty_indices)
        logger.warning("Dropped %d texts of %s that are empty after normalisation", dropped, spec.name)

    columns = {"text": [texts[index] for index in nonempty_indices]}
    features = {"text": datasets.Value("string")}
    if spec.is_labelled:
        _check_labels(spec, raw.labels)
        columns["label"] = [raw.labels[index] for index in nonempty_indices]
        features["label"] = datasets.ClassLabel(names=list(spec.label_names))

    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def load_text_dataset(
    name: str,
    split: str,
    data_dir: PathLike | None = None,
    lowercase: bool = True,
) -> datasets.Dataset:
    """Load one split of a registered data set with normalised text.

    Args:
        name: Registry key, e.g. "sst2" or "snli".
        split: Our split name. OOD sets offer only "test".
        data_dir: Local data directory. When None, `$OE_NLP_DATA_DIR` is used, else the Hub.
        lowercase: Whether `normalize_text` lower-cases the text.

    Returns:
        A Dataset with the column "text" (str) and, for labelled data sets, "label"
        (ClassLabel with the spec's label names). Texts that are empty after
        normalisation are dropped, with a warning.

    Raises:
        ValueError: If the name or split is unknown, or a file or Hub row is malformed.
        FileNotFoundError: If the data directory lacks a file the data set needs.
    """
    spec = get_dataset_spec(name)
    raw = _read_raw(spec, split, data_dir)
    return _build_dataset(spec, raw, lowercase)


def _split_outlier_texts(spec: DatasetSpec, texts: list[str], min_tokens: int, max_tokens: int) -> list[str]:
    if spec.sentence_splitter is not None:
        return spec.sentence_splitter(texts, min_tokens, max_tokens)

    validate_token_limits(min_tokens, max_tokens)
    return [text for text in texts if min_tokens <= len(text.split()) <= max_tokens]


def load_outlier_dataset(
    name: str = "wikitext2",
    data_dir: PathLike | None = None,
    split: str = "train",
    lowercase: bool = True,
    min_tokens: int = 3,
    max_tokens: int = 60,
) -> datasets.Dataset:
    """Load an outlier training corpus as one sentence per row.

    For WikiText-2 the lines are split and filtered by `wikitext_sentences`. Other data
    sets keep each text as one example if it has `min_tokens` to `max_tokens` tokens.
    `normalize_text` is applied after this filtering.

    Args:
        name: Registry key of the corpus.
        data_dir: Local data directory. When None, `$OE_NLP_DATA_DIR` is used, else the Hub.
        split: Split of the corpus to read.
        lowercase: Whether `normalize_text` lower-cases the text.
        min_tokens: Minimum whitespace tokens per sentence, counted before normalisation.
        max_tokens: Maximum whitespace tokens per sentence, counted before normalisation.

    Returns:
        A Dataset with the single column "text".

    Raises:
        ValueError: If no sentence is left after filtering, or an argument is invalid.
        FileNotFoundError: If the data directory lacks the corpus file.
    """
    spec = get_dataset_spec(name)
    if split not in spec.splits:
        raise ValueError(
            f"{name!r} has no {split!r} split (its splits: {', '.join(spec.splits)}), so it cannot serve as "
            f"the outlier corpus here. Use a corpus with a {split!r} split, such as 'wikitext2'."
        )

    raw = _read_raw(spec, split, data_dir)
    sentences = _split_outlier_texts(spec, raw.texts, min_tokens, max_tokens)
    texts = [text for text in (normalize_text(sentence, lowercase) for sentence in sentences) if text]

    if not texts:
        raise ValueError(
            f"The outlier corpus {name!r} (split {split!r}, {len(raw.texts)} input lines) has no "
            f"sentence left after filtering with min_tokens={min_tokens}, max_tokens={max_tokens}. "
            "Lower min_tokens or raise max_tokens, or check that the corpus file contains "
            "WikiText-format paragraph lines."
        )

    logger.info("Outlier corpus %s: %d sentences from %d lines", name, len(texts), len(raw.texts))
    return datasets.Dataset.from_dict(
        {"text": texts}, features=datasets.Features({"text": datasets.Value("string")})
    )


def load_ood_suite(
    task: str,
    data_dir: PathLike | None = None,
    lowercase: bool = True,
) -> dict[str, datasets.Dataset]:
    """Load the "test" split of every OOD set of a task's suite.

    Args:
        task: Key of `OOD_SUITES`, e.g. "sst2".
        data_dir: Local data directory. When None, `$OE_NLP_DATA_DIR` is used, else the Hub.
        lowercase: Whether `normalize_text` lower-cases the text.

    Returns:
        OOD set name -> Dataset with the column "text", in the suite's order.

    Raises:
        ValueError: If the task has no OOD suite.
    """
    if task not in OOD_SUITES:
        raise ValueError(f"No OOD suite for task {task!r}. Tasks with a suite: {', '.join(OOD_SUITES)}.")

    return {name: load_text_dataset(name, "test", data_dir, lowercase) for name in OOD_SUITES[task]}
