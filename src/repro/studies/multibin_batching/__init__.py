"""Multi-bin batching for LLM inference throughput (Guldogan, Kunde, Lee & Pedarsani, 2024)."""
