"""Readers for the local copies of the data sets, and transforms for rows loaded from the Hub.

Each reader takes the files of one split (in the order the registry lists them) and returns
the raw texts, plus integer labels for labelled sets. Readers do not normalise text:
`oe_nlp.data.loading` applies `normalize_text` to every reader's output.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers.utils import logging

from oe_nlp.data.text import no_short

logger = logging.get_logger(__name__)

# The GLUE and EWT TSV files contain bare double quotes inside sentences, so they are read
# with quoting switched off.
_TSV_OPTIONS = {"delimiter": "\t", "quoting": csv.QUOTE_NONE}

_EWT_COLUMNS = ("split", "genre", "sent_id", "text")

# In the Yelp review text a backslash escapes a quote, sometimes with a space between
# them (`\"`, `\ "`), and non-ASCII letters appear as JSON escapes such as `\u00e9`.
_ESCAPED_QUOTE = re.compile(r'\\ ?"')
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")

_NEWSGROUPS_FIELDS = ("label", "label_name", "text")


@dataclass(frozen=True)
class RawExamples:
    """Texts of one split before normalisation, with labels for labelled data sets."""

    texts: list[str]
    labels: list[int] | None = None


def _utf8_decode_error(path: Path, error: UnicodeDecodeError) -> ValueError:
    """Build an error that names the first line of `path` that is not valid UTF-8."""
    with path.open("rb") as handle:
        for line_number, raw_line in enumerate(handle, start=1):
            try:
                raw_line.decode("utf-8")
            except UnicodeDecodeError as line_error:
                bad_bytes = raw_line[line_error.start : line_error.end]
                return ValueError(
                    f"{path} is not valid UTF-8: line {line_number} contains the byte(s) {bad_bytes!r} at "
                    f"byte {line_error.start + 1} of the line. Replace the file with an intact copy, or convert it "
                    "to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
                )

    return ValueError(f"{path} is not valid UTF-8 ({error}). Replace the file with an intact copy.")


def _utf8_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield `(line number, line)` pairs of a UTF-8 text file, naming the line of any invalid byte."""
    try:
        with path.open(encoding="utf-8") as handle:
            yield from enumerate(handle, start=1)
    except UnicodeDecodeError as error:
        raise _utf8_decode_error(path, error) from error


def _parse_label(value: str, path: Path, line_number: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"Invalid label {value!r} in {path}, line {line_number}: expected an integer class id. "
            "Check that the file has the expected format."
        ) from None


def _split_label_prefix(line: str, path: Path, line_number: int) -> tuple[int, str]:
    label, separator, text = line.partition(" ")
    if not separator:
        raise ValueError(f"Invalid line {line_number} in {path}: expected '<label> <text>', got {line!r}.")

    return _parse_label(label, path, line_number), text


def read_label_prefixed_lines(paths: Sequence[Path]) -> RawExamples:
    """Read `<label> <text>` lines, as in the sentence-level SST files `stsa.binary.*`."""
    texts, labels = [], []
    for path in paths:
        for line_number, line in _utf8_lines(path):
            line = line.rstrip("\r\n")
            if not line:
                continue

            label, text = _split_label_prefix(line, path, line_number)
            labels.append(label)
            texts.append(text)

    return RawExamples(texts, labels)


def read_glue_tsv(paths: Sequence[Path]) -> RawExamples:
    """Read GLUE SST-2 TSV files with the header row `sentence<TAB>label`."""
    texts, labels = [], []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, **_TSV_OPTIONS)
            missing = {"sentence", "label"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(
                    f"{path} lacks the column(s) {sorted(missing)} in its header row "
                    f"{reader.fieldnames}. Expected the GLUE header 'sentence<TAB>label'."
                )

            for row in reader:
                texts.append(row["sentence"])
                labels.append(_parse_label(row["label"], path, reader.line_num))

    return RawExamples(texts, labels)


def read_plain_lines(paths: Sequence[Path]) -> RawExamples:
    """Read one text per line, keeping blank lines (WikiText needs them to find paragraphs)."""
    texts = []
    for path in paths:
        texts.extend(line.rstrip("\r\n") for _, line in _utf8_lines(path))

    return RawExamples(texts)


def read_jsonl_gz_texts(paths: Sequence[Path]) -> RawExamples:
    """Read the `text` field of each record of gzip-compressed JSON-lines files (IMDB)."""
    texts = []
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue

                record = json.loads(line)
                if "text" not in record:
                    raise ValueError(
                        f"Record on line {line_number} of {path} has no 'text' field. "
                        f"its fields are {sorted(record)}."
                    )
                texts.append(record["text"])

    return RawExamples(texts)


def read_csv_first_column(paths: Sequence[Path]) -> RawExamples:
    """Read the first field of each row of a CSV file (the Multi30K file of Hendrycks et al. 2019).

    That file was written by Python's csv writer, with CRLF line ends and double quotes
    around captions that contain a comma, so a CSV reader is needed to undo the quoting.
    """
    texts = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            texts.extend(row[0] for row in csv.reader(handle) if row)

    return RawExamples(texts)


def clean_yelp_text(text: str) -> str:
    """Undo the escaping of Yelp review text.

    A literal `\\n` becomes a space, `\\"` and `\\ "` become `"`, and `\\uXXXX`
    becomes the character with that code point (`\\u00e9` -> `é`).
    """
    text = text.replace("\\n", " ")
    text = _ESCAPED_QUOTE.sub('"', text)
    return _UNICODE_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)


def read_yelp_textfooler(paths: Sequence[Path]) -> RawExamples:
    """Read the TextFooler Yelp polarity file, `<label> <text>` per line, without the labels.

    A review wrapped in double quotes loses the wrapping quotes, and its doubled quotes
    (`""`) become single ones, as CSV quoting would have it. `clean_yelp_text` then undoes
    the backslash escapes.
    """
    texts = []
    for path in paths:
        for line_number, line in _utf8_lines(path):
            line = line.rstrip("\r\n")
            if not line:
                continue

            _, text = _split_label_prefix(line, path, line_number)
            if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
                text = text[1:-1].replace('""', '"')
            texts.append(clean_yelp_text(text))

    return RawExamples(texts)


def read_ewt_genre(paths: Sequence[Path], genre: str) -> RawExamples:
    """Read the sentences of one genre from `ewt_sentences.tsv`, dev and test rows alike.

    The file has the header `split<TAB>genre<TAB>sent_id<TAB>text`. Rows keep file order.
    """
    texts = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, **_TSV_OPTIONS)
            if tuple(reader.fieldnames or ()) != _EWT_COLUMNS:
                raise ValueError(f"{path} has the header {reader.fieldnames}, expected {list(_EWT_COLUMNS)}.")

            texts.extend(row["text"] for row in reader if row["genre"] == genre)

    return RawExamples(texts)


def _newsgroups_label(
    record: Mapping[str, Any], label_names: Sequence[str], path: Path, line_number: int
) -> int:
    missing = [name for name in _NEWSGROUPS_FIELDS if name not in record]
    if missing:
        raise ValueError(
            f"Record on line {line_number} of {path} lacks the field(s) {missing}. Its fields are "
            f"{sorted(record)}. Expected the 20 Newsgroups JSON-lines format with {list(_NEWSGROUPS_FIELDS)}."
        )

    name = record["label_name"]
    if name not in label_names:
        raise ValueError(
            f"Unknown newsgroup {name!r} on line {line_number} of {path}. Known newsgroups: {', '.join(label_names)}."
        )

    label = label_names.index(name)
    if record["label"] != label:
        raise ValueError(
            f"Record on line {line_number} of {path} has label {record['label']} but label_name {name!r}, "
            f"whose class id is {label}. The file does not use the sorted newsgroup names as class ids."
        )

    return label


def read_newsgroups_jsonl(
    paths: Sequence[Path],
    label_names: Sequence[str],
    transform: Callable[[str], str] | None = None,
) -> RawExamples:
    """Read 20 Newsgroups posts from gzip-compressed JSON-lines files.

    Each record has the fields `label`, `label_name` and `text` (the raw post, decoded as
    latin-1 when the file was written). The class id comes from `label_name` and must match
    `label`. `transform` (for example `clean_newsgroup_post`) runs on each post, and posts
    that are empty after it are dropped. The number dropped is logged as a warning.

    Args:
        paths: The JSON-lines files of one split.
        label_names: Newsgroup names in class-id order.
        transform: Function applied to each raw post, or None to keep the raw post.

    Returns:
        The posts and their class ids.

    Raises:
        ValueError: If a record lacks a field or its label and label_name disagree.
    """
    texts, labels = [], []
    for path in paths:
        empty_count = 0
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue

                record = json.loads(line)
                label = _newsgroups_label(record, label_names, path, line_number)
                text = transform(record["text"]) if transform is not None else record["text"]
                if not text.strip():
                    empty_count += 1
                    continue

                texts.append(text)
                labels.append(label)

        if empty_count:
            logger.warning("Dropped %d posts of %s that are empty after cleaning", empty_count, path)

    return RawExamples(texts, labels)


def _parse_trec_line(line: str, path: Path, line_number: int) -> tuple[str, str]:
    label, separator, text = line.partition(" ")
    coarse, colon, fine = label.partition(":")
    if not separator or not colon or not coarse or not fine:
        raise ValueError(
            f"Invalid line {line_number} in {path}: expected 'COARSE:fine question', got {line!r}."
        )

    return label, text


def read_trec_questions(
    paths: Sequence[Path], label_names: Sequence[str], coarse: bool = False
) -> RawExamples:
    """Read TREC question classification files (`train_5500.label`, `TREC_10.label`).

    Each line is `COARSE:fine question`, for example `DESC:manner How did serfdom develop ?`.
    The files are read as latin-1, because line 66 of `train_5500.label` contains the single
    byte 0xF0 (between "sister" and "city"), which is not valid UTF-8. Latin-1 decodes it
    as "ð".

    Args:
        paths: The label files of one split.
        label_names: Class names in class-id order: fine names such as "ABBR:abb", or coarse
            names such as "ABBR" when `coarse` is true.
        coarse: Whether to use the coarse class (the part before the colon).

    Returns:
        The questions and their class ids.

    Raises:
        ValueError: If a line is malformed or its class is not among `label_names`.
    """
    class_ids = {name: index for index, name in enumerate(label_names)}
    texts, labels = [], []
    for path in paths:
        with path.open(encoding="latin-1") as handle:
            for line_number, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue

                label, text = _parse_trec_line(line, path, line_number)
                name = label.split(":", 1)[0] if coarse else label
                if name not in class_ids:
                    raise ValueError(
                        f"Unknown TREC class {name!r} on line {line_number} of {path}. "
                        f"Known classes: {', '.join(label_names)}."
                    )

                texts.append(text)
                labels.append(class_ids[name])

    return RawExamples(texts, labels)


def snli_hub_hypothesis(row: Mapping[str, Any]) -> str | None:
    """Return the hypothesis of a Hub SNLI row, or None for pairs without a gold label.

    The Hub copy keeps the pairs whose gold label is `-` with label -1. The local SNLI
    files drop them, so the Hub rows are filtered to match.
    """
    if row["label"] == -1:
        return None

    return row["hypothesis"]


def wmt16_hub_english(row: Mapping[str, Any]) -> str:
    """Return the English side of a Hub WMT16 row, whose `translation` maps language to text."""
    return row["translation"]["en"]


def yelp_hub_text(row: Mapping[str, Any]) -> str:
    """Return the cleaned review text of a Hub Yelp row (see `clean_yelp_text`)."""
    return clean_yelp_text(row["text"])


def newsgroups_hub_no_short(row: Mapping[str, Any]) -> str:
    """Return the `no_short` form of a Hub 20 Newsgroups row's text (3+ character words, at most 100)."""
    return no_short(row["text"])


def ewt_hub_genre_text(row: Mapping[str, Any], genre: str) -> str | None:
    """Return the text of a Hub UD English-EWT row when its genre matches, else None.

    The genre is the prefix of the sentence id before the first `-`, as in
    `weblog-blogspot.com_..._ENG_20041117_172713-0001`.
    """
    if row["idx"].split("-", 1)[0] != genre:
        return None

    return row["text"]
