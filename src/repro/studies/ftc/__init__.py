"""Fine-tuning capacity of additive ReLU networks (Sohn, Kwon, An & Lee, UAI 2024)."""
