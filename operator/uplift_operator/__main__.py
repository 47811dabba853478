"""``python -m uplift_operator`` is the ``uplift-operator`` command."""

import sys

from uplift_operator.cli import main

sys.exit(main())
