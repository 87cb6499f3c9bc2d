"""Train a Penn Treebank language model with and without Outlier Exposure and compare OOD detection.

Run on local data (the layout of shared/data) or, without --data_dir, from the Hugging Face Hub:

    accelerate launch recipes/ptb_lm_oe.py --data_dir ../shared/data --output_dir runs/ptb_word
    accelerate launch recipes/ptb_lm_oe.py --level char --data_dir ../shared/data --output_dir runs/ptb_char

A CPU-sized LSTM language model trains on PTB windows of 70 words (or 150 characters), each scored on its
own with no hidden state carried between windows. A copy is then fine-tuned with OE on WikiText-2
windows mapped to PTB's vocabulary, and both are scored on the five English Web Treebank genres.
At word level the mapping looks words up as written, as the code of Hendrycks et al. did (`--text_mapping paper`).
`--text_mapping ptb` rewrites the text in PTB's form first (docs/experiments.md compares the two).
`--model_name_or_path` trains any causal LM instead; every setting is a flag (`--help` lists them).
"""

from oe_nlp.lm_experiment import lm_recipe_main


def main(argv: list[str] | None = None) -> dict:
    return lm_recipe_main(argv)


if __name__ == "__main__":
    main()
