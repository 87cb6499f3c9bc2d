"""Outlier Exposure for Hugging Face models.

Importing `oe_nlp` registers its model classes with the transformers Auto classes, so that
`AutoModelForSequenceClassification.from_pretrained` loads a saved recurrent classifier without
`trust_remote_code`. The trainer, data and Hub modules load only when imported themselves.
"""

from . import models as models

__version__ = "0.1.0"
