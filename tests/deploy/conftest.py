from __future__ import annotations

import sys
from pathlib import Path

# The helpers beside the tests (apply_order) are imported by name.
sys.path.insert(0, str(Path(__file__).parent))
