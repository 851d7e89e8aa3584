"""``python -m ssd_isb`` runs the ``ssd-isb`` command."""

import sys

from .cli import main

sys.exit(main())
