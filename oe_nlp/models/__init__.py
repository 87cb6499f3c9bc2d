"""Recurrent text classifier and word-level tokenizer for Outlier Exposure experiments.

Importing this package registers `RecurrentClassifierConfig` with `AutoConfig` and
`RecurrentForSequenceClassification` with `AutoModelForSequenceClassification`, so that
`AutoModelForSequenceClassification.from_pretrained` can load a saved recurrent classifier.
`WideResNetConfig` and `WideResNetForImageClassification` are registered with `AutoConfig` and
`AutoModelForImageClassification` in the same way, and `LSTMLMConfig` and `LSTMForCausalLM` with
`AutoConfig` and `AutoModelForCausalLM`.
"""

from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
)

from .lstm_lm import LSTMForCausalLM, LSTMLMConfig
from .recurrent import RecurrentClassifierConfig, RecurrentForSequenceClassification
from .tokenizer import build_word_tokenizer
from .wide_resnet import WideResNetConfig, WideResNetForImageClassification

# exist_ok=True keeps a second registration (importlib.reload, say) from raising.
AutoConfig.register(RecurrentClassifierConfig.model_type, RecurrentClassifierConfig, exist_ok=True)
AutoModelForSequenceClassification.register(
    RecurrentClassifierConfig, RecurrentForSequenceClassification, exist_ok=True
)
AutoConfig.register(LSTMLMConfig.model_type, LSTMLMConfig, exist_ok=True)
AutoModelForCausalLM.register(LSTMLMConfig, LSTMForCausalLM, exist_ok=True)
AutoConfig.register(WideResNetConfig.model_type, WideResNetConfig, exist_ok=True)
AutoModelForImageClassification.register(WideResNetConfig, WideResNetForImageClassification, exist_ok=True)

__all__ = [
    "LSTMForCausalLM",
    "LSTMLMConfig",
    "RecurrentClassifierConfig",
    "RecurrentForSequenceClassification",
    "WideResNetConfig",
    "WideResNetForImageClassification",
    "build_word_tokenizer",
]
