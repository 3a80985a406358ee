"""``python -m patches``: the same as ``patches-server``."""

import sys

from patches.cli import main

sys.exit(main())
