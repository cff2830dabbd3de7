"""``python -m adaptive_llm.cli``: the ``adaptive-llm`` command."""

import sys

from . import main

sys.exit(main())
