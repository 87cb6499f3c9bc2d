"""Shared fixtures: a tiny word-level tokenizer, a tiny BERT classifier and small labelled data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_DATA = FIXTURES / "data"
REPO_ROOT = Path(__file__).resolve().parents[1]

WORDS = [
    "<unk>",
    "<pad>",
    "good",
    "bad",
    "movie",
    "film",
    "great",
    "awful",
    "the",
    "a",
    "river",
    "city",
    "king",
]


def shared_data_dir() -> Path | None:
    """Return the full data folder ($OE_NLP_SHARED_DATA, else shared/data beside the repo), or None."""
    candidates = [os.environ.get("OE_NLP_SHARED_DATA"), REPO_ROOT.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "sst" / "stsa" / "stsa.binary.train").is_file():
            return Path(candidate)
    return None


@pytest.fixture
def word_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {word: index for index, word in enumerate(WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>")


def make_tiny_bert(
    num_labels: int = 2, seed: int = 0, max_position_embeddings: int = 32
) -> BertForSequenceClassification:
    """Build a 1-layer BERT classifier with no dropout, so repeated forward passes agree exactly."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(WORDS),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=max_position_embeddings,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=num_labels,
        pad_token_id=1,
    )
    return BertForSequenceClassification(config)


@pytest.fixture
def labelled_dataset(word_tokenizer: PreTrainedTokenizerFast) -> Dataset:
    texts = ["good movie", "bad film", "great movie the", "awful film a", "good", "the bad movie"] * 4
    labels = [1, 0, 1, 0, 1, 0] * 4
    encoded = word_tokenizer(texts)
    return Dataset.from_dict(
        {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "label": labels}
    )


@pytest.fixture
def outlier_dataset(word_tokenizer: PreTrainedTokenizerFast) -> Dataset:
    texts = ["the river", "a city king", "river city", "king the river a", "city", "the king"]
    encoded = word_tokenizer(texts)
    return Dataset.from_dict({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})
