"""Train an MNIST digit classifier with and without Outlier Exposure and compare OOD detection.

The run fits two CPU cores. The 10,000 MNIST test digits are split (seeded, stratified) into 8,000 for
training and 2,000 for testing. notMNIST letters are the outlier set. Fashion-MNIST, CIFAR-10 (grey,
28x28) and Gaussian, Bernoulli and blob noise are the unseen OOD sets. The model is a WRN-16-1 without
dropout. The baseline trains for 3 epochs, then a copy is fine-tuned with OE for 3 epochs (128
in-distribution and 256 outlier images a batch, weight 0.5). Every setting is a flag (`--help`):

    OMP_NUM_THREADS=1 python recipes/mnist_oe.py --data_dir ../shared/data --output_dir runs/vision_mnist \
        --results_page docs/results.md

`--results_page` rewrites the section `vision_mnist` of that page with the command, the hardware, the
wall time and the baseline-versus-OE table.
"""

from oe_nlp.vision_experiment import vision_recipe_main

# Sized for two CPU cores; Hendrycks et al. trained a WRN-40-2 for 100 epochs, then 10 epochs of OE.
MNIST_DEFAULTS = {
    "depth": 16,
    "widen_factor": 1,
    "dropout": 0.0,
    "num_train_epochs": 3.0,
    "oe_num_train_epochs": 3.0,
    "learning_rate": 0.05,
    "oe_learning_rate": 0.01,
    "output_dir": "runs/vision_mnist",
}


def main(argv: list[str] | None = None) -> dict:
    return vision_recipe_main("mnist", argv, **MNIST_DEFAULTS)


if __name__ == "__main__":
    main()
