"""The tests import the package from its source tree: installed into the
environment, the plugin would take part in every swarmd that swarmkit-py's own
tests start."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
