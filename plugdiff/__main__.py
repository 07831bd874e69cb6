"""``python -m plugdiff`` (and ``accelerate launch -m plugdiff render ...``): the ``plugdiff`` command."""

import sys

from .apps.cli import main

sys.exit(main())
