"""Recurrent text classifier and word-level tokenizer for Outlier Exposure experiments.

Importing this package registers `RecurrentClassifierConfig` with `AutoConfig` and
`RecurrentForSequenceClassification` with `AutoModelForSequenceClassification`, so that
`AutoModelForSequenceClassification.from_pretrained` can load a saved recurrent classifier.
"""

from transformers import AutoConfig, AutoModelForSequenceClassification

from .recurrent import RecurrentClassifierConfig, RecurrentForSequenceClassification
from .tokenizer import build_word_tokenizer

# exist_ok=True keeps a second registration (importlib.reload, say) from raising.
AutoConfig.register(RecurrentClassifierConfig.model_type, RecurrentClassifierConfig, exist_ok=True)
AutoModelForSequenceClassification.register(
    RecurrentClassifierConfig, RecurrentForSequenceClassification, exist_ok=True
)

__all__ = ["RecurrentClassifierConfig", "RecurrentForSequenceClassification", "build_word_tokenizer"]
