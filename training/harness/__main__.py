"""``python -m training.harness``: see ``training.harness.run``."""

import sys

from training.harness.run import main

sys.exit(main())
