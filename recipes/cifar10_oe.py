"""Train a CIFAR-10 WRN-40-2 with and without Outlier Exposure and compare OOD detection (needs the Hub).

This is the setting of Hendrycks, Mazeika and Dietterich (ICLR 2019), Table 1. A WRN-40-2 (dropout 0.3)
trains on CIFAR-10 (`uoft-cs/cifar10`) with random crops and flips for 100 epochs with SGD. A copy is
then fine-tuned with OE for 10 epochs at learning rate 0.001, with 128 in-distribution and 256 outlier
images per batch and weight 0.5. OOD sets: SVHN, Textures, Places365, LSUN, CIFAR-100 from the Hub, plus Gaussian, Rademacher
and blob noise. The outlier set (300K Random Images or 80 Million Tiny Images in the paper) is not on
the Hub, so `--outlier_dataset` names a local folder, an .npz file or a Hub id:

    python recipes/cifar10_oe.py --outlier_dataset /data/300K_random_images.npz --output_dir runs/cifar10

This needs a GPU to finish in hours. Without network access it stops at the first Hub download with a
ConnectionError naming the missing network access.
"""

from oe_nlp.vision_experiment import vision_recipe_main


def main(argv: list[str] | None = None) -> dict:
    return vision_recipe_main("cifar10", argv)


if __name__ == "__main__":
    main()
