"""Share of `<unk>` among the predicted tokens of each word-level corpus, for both text mappings.

The share explains why the text mapping decides the word-level Table 6 result (docs/experiments.md):

    OMP_NUM_THREADS=1 python benchmarks/lm_unk_share.py --data_dir ../shared/data
"""

from __future__ import annotations

import argparse

from datasets import Dataset

from oe_nlp.data.lm import TEXT_MAPPINGS, load_lm_datasets, load_lm_ood_suite, load_lm_outlier_dataset


def unk_share(dataset: Dataset, unk_id: int) -> float:
    """Percent of `<unk>` among the tokens a window predicts (all but its first)."""
    targets = [token for window in dataset["input_ids"] for token in window[1:]]
    return 100 * targets.count(unk_id) / len(targets)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default=None, help="Folder in the layout of shared/data.")
    data_dir = parser.parse_args(argv).data_dir

    splits, tokenizer = load_lm_datasets(data_dir, "word")
    unk_id = tokenizer.unk_token_id
    print("| Corpus | " + " | ".join(f"`{mapping}` mapping" for mapping in TEXT_MAPPINGS) + " |")
    print("|---" * (len(TEXT_MAPPINGS) + 1) + "|")
    ptb_share = f"{unk_share(splits['test'], unk_id):.1f}"
    print("| PTB test | " + " | ".join([ptb_share] * len(TEXT_MAPPINGS)) + " |")

    rows: dict[str, list[float]] = {}
    for mapping in TEXT_MAPPINGS:
        outliers = load_lm_outlier_dataset(tokenizer, data_dir, "word", mapping=mapping)
        rows.setdefault("WikiText-2 train (outliers)", []).append(unk_share(outliers, unk_id))
        for name, dataset in load_lm_ood_suite(tokenizer, data_dir, "word", mapping=mapping).items():
            rows.setdefault(name, []).append(unk_share(dataset, unk_id))

    for name, shares in rows.items():
        print(f"| {name} | " + " | ".join(f"{share:.1f}" for share in shares) + " |")


if __name__ == "__main__":
    main()
