"""Root pytest configuration: notebooks run in fast mode under the test suite."""

from __future__ import annotations

import os

# Kernels started by nbval inherit this; notebooks shorten their horizons when set.
os.environ.setdefault("SIMKIT_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
