"""``python -m plugdiff`` (and ``accelerate launch -m plugdiff render ...``): the ``plugdiff`` command.

Under a launcher (``WORLD_SIZE`` > 1) each process leaves with ``os._exit`` once ``main`` has
returned (outputs written, process group destroyed, streams flushed): the interpreter's own
teardown can still meet torch.distributed's C++ threads and abort a process whose work is done
("terminate called without an active exception"; seen in CI on the 2-process torchrun test).
"""

import logging
import os
import sys

from .apps.cli import main

code = main()
if int(os.environ.get("WORLD_SIZE", "1")) > 1:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
