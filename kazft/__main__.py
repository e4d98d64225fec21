"""``python -m kazft``."""

import sys

from kazft.cli import main

sys.exit(main())
