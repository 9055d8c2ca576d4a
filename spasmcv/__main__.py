"""``python -m spasmcv`` runs the command line."""

import sys

from spasmcv.cli import main

sys.exit(main())
