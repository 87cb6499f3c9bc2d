"""Train an SST-2 sentiment classifier with and without Outlier Exposure and compare OOD detection.

Run on local data (the layout of shared/data) or, without --data_dir, from the Hugging Face Hub:

    accelerate launch recipes/sst_oe.py --data_dir ../shared/data --output_dir runs/sst

Defaults follow Hendrycks et al. (ICLR 2019): a 2-layer GRU, 5 baseline epochs at batch 64, then 2
epochs of OE fine-tuning with 64 WikiText-2 outlier sentences per batch and weight 1.0. With
`--model_name_or_path` a pretrained transformer is fine-tuned instead. Every setting is a flag
(`--help` lists them).
"""

from oe_nlp.experiment import recipe_main


def main(argv: list[str] | None = None) -> dict:
    return recipe_main("sst2", argv)


if __name__ == "__main__":
    main()
