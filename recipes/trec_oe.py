"""Train a TREC question classifier with and without Outlier Exposure and compare OOD detection.

    accelerate launch recipes/trec_oe.py --data_dir ../shared/data --output_dir runs/trec

The 50 fine-grained TREC classes are the default, as in Hendrycks et al. (ICLR 2019);
`--dataset trec_coarse` trains on the 6 coarse classes. Training and OE settings are those of the
SST-2 recipe; `--help` lists every flag.
"""

from oe_nlp.experiment import recipe_main


def main(argv: list[str] | None = None) -> dict:
    return recipe_main("trec", argv)


if __name__ == "__main__":
    main()
