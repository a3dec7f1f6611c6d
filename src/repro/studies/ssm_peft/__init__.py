"""ssm_peft: parameter-efficient fine-tuning of state space models (Galim, Kang, Zeng, Koo & Lee, ICML 2025)."""
