"""Train a 20 Newsgroups topic classifier with and without Outlier Exposure and compare OOD detection.

    accelerate launch recipes/newsgroups_oe.py --data_dir ../shared/data --output_dir runs/newsgroups

Posts are cleaned of email headers (the subject is kept), quoted replies and signatures, and cut to
100 tokens, as in Hendrycks et al. (ICLR 2019). `--dataset newsgroups20_raw` keeps the headers and
`--dataset newsgroups20_noshort` applies the "no-short" preprocessing (see docs/data.md). Training
and OE settings are those of the SST-2 recipe; `--help` lists every flag.
"""

from oe_nlp.experiment import recipe_main


def main(argv: list[str] | None = None) -> dict:
    return recipe_main("newsgroups20", argv)


if __name__ == "__main__":
    main()
