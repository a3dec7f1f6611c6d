"""Task vectors in ICL: emergence, formation, and the TVP-loss (Yang, Lin, Lee, Papailiopoulos & Nowak, 2025)."""
