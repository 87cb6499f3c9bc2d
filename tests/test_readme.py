"""The README's own-script example runs as written (on fixtures) and reports correct OOD metrics."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from .conftest import FIXTURE_DATA, REPO_ROOT


def readme_example() -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    return next(block for block in blocks if "OETrainer(" in block and "train_dataset" in block)


def test_readme_example_runs_on_fixtures(tmp_path, capsys):
    source = readme_example()
    assert 'data_dir = "../shared/data"' in source
    source = source.replace('data_dir = "../shared/data"', f"data_dir = {str(FIXTURE_DATA)!r}")
    source = source.replace('"runs/my-model"', repr(str(tmp_path / "run")))
    namespace: dict = {}

    exec(compile(source, "README.md", "exec"), namespace)  # noqa: S102 (the README is trusted repo text)

    trainer, metrics = namespace["trainer"], namespace["metrics"]
    in_logits = trainer.predict_logits(trainer.eval_dataset)
    ood_logits = trainer.predict_logits(trainer.ood_eval_datasets["imdb"])

    def msp(logits):
        probabilities = np.exp(logits - logits.max(1, keepdims=True))
        return -(probabilities / probabilities.sum(1, keepdims=True)).max(1)

    labels = np.r_[np.zeros(len(in_logits)), np.ones(len(ood_logits))]
    expected = roc_auc_score(
        labels, np.r_[msp(in_logits.astype(np.float64)), msp(ood_logits.astype(np.float64))]
    )
    assert metrics["eval_ood_imdb_auroc"] == pytest.approx(expected, abs=1e-4)
    assert capsys.readouterr().out.strip().splitlines()[-1].split()[0] == str(metrics["eval_ood_imdb_auroc"])
