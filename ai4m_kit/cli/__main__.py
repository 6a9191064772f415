"""``python -m ai4m_kit.cli``: the ``ai4m`` command."""

import sys

from ai4m_kit.cli import main

sys.exit(main())
