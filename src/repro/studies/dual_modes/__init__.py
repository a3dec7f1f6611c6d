"""Dual operating modes of ICL (Lin & Lee, ICML 2024): Bayesian retrieval vs learning, early ascent."""
