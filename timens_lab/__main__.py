"""``python -m timens_lab`` is the ``timens-lab`` command."""

import sys

from .cli import main

raise SystemExit(main(sys.argv[1:]))
