"""`python -m vae_hub.cli` is `vae-hub`."""

import sys

from . import main

sys.exit(main())
