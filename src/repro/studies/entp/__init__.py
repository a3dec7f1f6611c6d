"""ENTP: encoder-only next-token prediction (Ewer et al., 2024)."""
