"""repro: one workflow that rebuilds ten ML studies. Library code lives here; workflow/ only adapts it."""

__version__ = "0.1.0"
