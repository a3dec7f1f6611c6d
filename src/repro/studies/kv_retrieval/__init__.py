"""kv_retrieval: fine-tuning on synthetic key-value retrieval, measured on multi-document QA
(Xiong, Papageorgiou, Lee & Papailiopoulos, ICLR 2025)."""
