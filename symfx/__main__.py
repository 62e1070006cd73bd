"""``python -m symfx demo ...``: the same as the ``symfx`` console script."""
import sys

from .cli import main

sys.exit(main())
