"""The resampling OOD protocol, results files and tables."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from oe_nlp.evaluation import (
    OODReport,
    comparison_markdown,
    resample_indices,
    resampled_metrics,
    suite_mean,
    write_markdown_section,
    write_text_atomic,
)


def test_resample_indices_size_and_uniqueness():
    subsets = resample_indices(num_ood=1000, num_in=1821, num_resamples=10, ood_to_in_ratio=0.2, seed=4)

    assert len(subsets) == 10
    for subset in subsets:
        assert len(subset) == 364  # 1821 // 5, the protocol's OOD:ID = 1:5
        assert len(np.unique(subset)) == 364
        assert subset.min() >= 0
        assert subset.max() < 1000
    assert not np.array_equal(subsets[0], subsets[1])


def test_resample_indices_repeatable_per_seed():
    first = resample_indices(50, 100, 3, seed=9)
    second = resample_indices(50, 100, 3, seed=9)
    other = resample_indices(50, 100, 3, seed=10)

    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_resample_indices_small_ood_set_uses_all():
    subsets = resample_indices(num_ood=7, num_in=100, num_resamples=2)

    assert [subset.tolist() for subset in subsets] == [list(range(7)), list(range(7))]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_ood": 0, "num_in": 5}, "non-empty"),
        ({"num_ood": 5, "num_in": 5, "num_resamples": 0}, "`num_resamples` must be a positive integer"),
        ({"num_ood": 5, "num_in": 5, "ood_to_in_ratio": 0.0}, "`ood_to_in_ratio` must be > 0"),
    ],
)
def test_resample_indices_rejects_invalid(arguments, message):
    with pytest.raises(ValueError, match=message):
        resample_indices(**arguments)


def test_resampled_metrics_average_sklearn_per_subset():
    rng = np.random.default_rng(0)
    in_scores = rng.normal(0.0, 1.0, 200)
    ood_scores = rng.normal(1.0, 1.0, 300)
    subsets = resample_indices(300, 200, num_resamples=5, seed=1)

    result = resampled_metrics(in_scores, ood_scores, subsets)

    aurocs, auprs = [], []
    for subset in subsets:
        labels = np.r_[np.zeros(200), np.ones(len(subset))]
        scores = np.r_[in_scores, ood_scores[subset]]
        aurocs.append(roc_auc_score(labels, scores))
        auprs.append(average_precision_score(labels, scores))
    assert result["auroc"]["mean"] == pytest.approx(np.mean(aurocs), abs=1e-12)
    assert result["auroc"]["std"] == pytest.approx(np.std(aurocs), abs=1e-12)
    assert result["aupr_out"]["mean"] == pytest.approx(np.mean(auprs), abs=1e-12)


def test_suite_mean_averages_over_sets():
    per_set = {
        "a": {"auroc": {"mean": 0.6, "std": 0.02}},
        "b": {"auroc": {"mean": 0.9, "std": 0.04}},
    }

    assert suite_mean(per_set) == {"auroc": {"mean": pytest.approx(0.75), "std": pytest.approx(0.03)}}


def make_report(name: str, auroc: float) -> OODReport:
    values = {"fpr90": 0.5, "fpr95": 0.625, "auroc": auroc, "aupr_out": 0.25, "aupr_in": 0.9}
    per_set = {metric: {"mean": value, "std": 0.01} for metric, value in values.items()}
    return OODReport(name=name, metrics={"msp": {"snli": per_set, "mean": per_set}}, in_accuracy=0.8125)


def test_report_markdown_exact():
    table = make_report("OE", 0.875).to_markdown("msp")

    assert table == (
        "| OOD set | FPR90 | FPR95 | AUROC | AUPR |\n"
        "|---|---|---|---|---|\n"
        "| snli | 50.0 ± 1.0 | 62.5 ± 1.0 | 87.5 ± 1.0 | 25.0 ± 1.0 |\n"
        "| **Mean** | 50.0 ± 1.0 | 62.5 ± 1.0 | 87.5 ± 1.0 | 25.0 ± 1.0 |\n"
    )


def test_comparison_markdown_with_reference():
    table = comparison_markdown(
        [make_report("baseline", 0.6), make_report("+OE", 0.875)],
        reference={"+OE": {"fpr90": 27.3, "auroc": 89.3}},
        reference_label="published",
    )

    assert table.splitlines() == [
        "| Model | FPR90 | FPR95 | AUROC | AUPR | Accuracy |",
        "|---|---|---|---|---|---|",
        "| baseline | 50.0 | 62.5 | 60.0 | 25.0 | 81.2 |",
        "| +OE | 50.0 | 62.5 | 87.5 | 25.0 | 81.2 |",
        "| +OE (published) | 27.3 | - | 89.3 | - | - |",
    ]


def test_save_json_round_trip_leaves_no_temporary(tmp_path):
    report = make_report("OE", 0.875)
    path = report.save_json(tmp_path / "out" / "results.json")

    assert json.loads(path.read_text()) == report.to_dict()
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]


def test_write_text_atomic_keeps_old_file_on_error(tmp_path):
    path = write_text_atomic(tmp_path / "results.md", "old\n")

    class Unwritable:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(TypeError):
        write_text_atomic(path, Unwritable())  # type: ignore[arg-type]

    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.md"]


def test_write_markdown_section_replaces_only_its_own_section(tmp_path):
    page = tmp_path / "results.md"
    page.write_text("# Results\n\nintro\n", encoding="utf-8")

    write_markdown_section(page, "a", "first A")
    write_markdown_section(page, "b", "only B")
    write_markdown_section(page, "a", "second A\nline 2")

    expected = (
        "# Results\n\nintro\n\n"
        "<!-- begin: a -->\nsecond A\nline 2\n<!-- end: a -->\n\n"
        "<!-- begin: b -->\nonly B\n<!-- end: b -->\n"
    )
    assert page.read_text(encoding="utf-8") == expected


def test_write_markdown_section_refuses_an_unclosed_section(tmp_path):
    page = tmp_path / "results.md"
    page.write_text("<!-- begin: a -->\nold\n", encoding="utf-8")

    with pytest.raises(ValueError, match="no '<!-- end: a -->'"):
        write_markdown_section(page, "a", "new")
    assert page.read_text(encoding="utf-8") == "<!-- begin: a -->\nold\n"


def test_write_text_atomic_gives_the_default_file_mode(tmp_path):
    previous = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "results.md", "text")
    finally:
        os.umask(previous)

    assert stat.S_IMODE(path.stat().st_mode) == 0o644
