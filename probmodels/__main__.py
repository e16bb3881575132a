"""``python -m probmodels``: the same command line as the ``probmodels`` script."""

import sys

from probmodels.cli import main

sys.exit(main())
