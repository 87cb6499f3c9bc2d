"""Text normalisation and the rule-based WikiText sentence splitter.

Every text the data layer returns (in-distribution, outlier corpus and OOD test sets) goes
through `normalize_text`, so the three sources share the same escapes, spacing and casing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_BR_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)

_PTB_BRACKETS = {
    "-lrb-": "(",
    "-rrb-": ")",
    "-lsb-": "[",
    "-rsb-": "]",
    "-lcb-": "{",
    "-rcb-": "}",
}
_PTB_BRACKET_RE = re.compile("|".join(re.escape(escape) for escape in _PTB_BRACKETS), re.IGNORECASE)

# WikiText writes "1,000" as "1 @,@ 000", and the replacement joins both sides again.
_WIKITEXT_SPLIT_MARK = re.compile(r"\s*@([-,.])@\s*")

# A sentence ends after a "." / "?" / "!" token: one with whitespace or the line start before
# it, and whitespace or the line end after it. The "." inside "@.@" has "@" on both sides,
# so a WikiText decimal point never ends a sentence.
_SENTENCE_END = re.compile(r"(?<!\S)[.?!](?=\s|$)")


def normalize_text(text: str, lowercase: bool = True) -> str:
    """Normalise one text so that all data sets share the same surface form.

    The steps, in order:

    1. HTML line breaks (`<br />`, `<br/>`, `<br>`, any case) become a space.
    2. The PTB bracket escapes `-lrb-`, `-rrb-`, `-lsb-`, `-rsb-`, `-lcb-`, `-rcb-` (any case)
       become `(`, `)`, `[`, `]`, `{`, `}`, and the escaped slash `\\/` becomes `/`.
    3. The WikiText split marks `@-@`, `@,@`, `@.@` become `-`, `,`, `.` and join the tokens
       on both sides: `1 @,@ 000` -> `1,000`, `role @-@ playing` -> `role-playing`.
    4. The text is lower-cased when `lowercase` is true.
    5. Runs of whitespace collapse to one space, and the ends are stripped.

    The WikiText unknown-word token `<unk>` is kept as it is.

    Args:
        text: The raw text.
        lowercase: Whether to lower-case the text.

    Returns:
        The normalised text, which may be empty.

    Raises:
        TypeError: If `text` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize_text expects a str, got {type(text).__name__}: {text!r}.")

    text = _BR_TAG.sub(" ", text)
    text = _PTB_BRACKET_RE.sub(lambda match: _PTB_BRACKETS[match.group(0).lower()], text)
    text = text.replace("\\/", "/")
    text = _WIKITEXT_SPLIT_MARK.sub(r"\1", text)

    if lowercase:
        text = text.lower()

    return " ".join(text.split())


def is_wikitext_heading(line: str) -> bool:
    """Return whether a WikiText line is a heading such as ` = Title = ` or ` = = Part = = `."""
    stripped = line.strip()
    return len(stripped) >= 2 and stripped.startswith("=") and stripped.endswith("=")


def split_wikitext_line(line: str) -> list[str]:
    """Split one WikiText paragraph line into sentences, without filtering them.

    The line loses its trailing newline and the single leading space that WikiText puts in
    front of every line. The rest is cut after each whitespace-delimited `.`, `?` or `!`
    token, and the one whitespace character that follows the token is dropped. Each
    sentence keeps any further leading whitespace, so that a caller can reject it, and
    loses its trailing whitespace.

    Args:
        line: One line of a `wiki.*.tokens` file.

    Returns:
        The sentences in order. Pieces that are empty after the split are left out.
    """
    body = line.rstrip("\r\n")
    body = body.removeprefix(" ")

    sentences = []
    start = 0
    for match in _SENTENCE_END.finditer(body):
        sentences.append(body[start : match.end()])
        start = match.end() + 1
    sentences.append(body[start:])

    stripped = (sentence.rstrip() for sentence in sentences)
    return [sentence for sentence in stripped if sentence.strip()]


def validate_token_limits(min_tokens: int, max_tokens: int) -> None:
    """Raise ValueError unless 1 <= min_tokens <= max_tokens."""
    if min_tokens < 1 or max_tokens < min_tokens:
        raise ValueError(
            f"Invalid sentence length limits min_tokens={min_tokens}, max_tokens={max_tokens}: "
            "need 1 <= min_tokens <= max_tokens."
        )


def _is_kept_sentence(sentence: str, min_tokens: int, max_tokens: int) -> bool:
    if sentence[0] == "@" or sentence[0].isspace() or sentence[0] in "0123456789":
        return False

    return min_tokens <= len(sentence.split()) <= max_tokens


def wikitext_sentences(lines: Iterable[str], min_tokens: int = 3, max_tokens: int = 60) -> list[str]:
    """Turn WikiText lines into the sentences used as the outlier training corpus.

    Each line is processed on its own, so no sentence spans two lines:

    1. Blank lines and headings (a stripped line that starts and ends with `=`) are dropped.
    2. The line is split into sentences by `split_wikitext_line`: after each `.`, `?` or `!`
       that is a token of its own. `@.@` (a WikiText decimal point) is never a sentence
       end. Abbreviations written as separate tokens, such as `lit .`, do end a sentence,
       and a quote token after the end mark starts the next sentence.
    3. A sentence is dropped when it starts with `@`, with whitespace, or with a digit 0-9.
    4. A sentence is kept only if it has `min_tokens` to `max_tokens` whitespace-separated
       tokens, both ends included. WikiText marks such as `@-@` count as tokens.

    The sentences are returned without normalisation, because `load_outlier_dataset`
    applies `normalize_text` after this filtering.

    Args:
        lines: Lines of a `wiki.*.tokens` file, or the `text` rows of the Hub copy.
        min_tokens: Minimum number of tokens a sentence needs (at least 1).
        max_tokens: Maximum number of tokens a sentence may have (at least `min_tokens`).

    Returns:
        The kept sentences, in corpus order.

    Raises:
        ValueError: If the token limits are invalid.
    """
    validate_token_limits(min_tokens, max_tokens)

    kept_sentences = []
    for line in lines:
        if not line.strip() or is_wikitext_heading(line):
            continue

        for sentence in split_wikitext_line(line):
            if _is_kept_sentence(sentence, min_tokens, max_tokens):
                kept_sentences.append(sentence)

    return kept_sentences
