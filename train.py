"""Train a VAE on MNIST: `python train.py --help` lists every option."""

import sys

from vae_hub.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
