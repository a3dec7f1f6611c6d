"""The one start point of every arm: SmolLM2-135M-Instruct dequantised from the offline GGUF (or a tiny random
Llama with a character tokenizer for smoke runs and tests), and LoRA through peft on the top layers only."""

from __future__ import annotations

import torch

SOURCES = ("smollm2", "tiny-random")


def load(source: str, device="cpu", dtype: str = "float32"):
    """(model in eval mode, tokenizer with left padding)."""
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    if source == "smollm2":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from repro.studies.multibin_batching.llm import GGUF_FILE, smollm2_dir

        path = smollm2_dir()
        tok = AutoTokenizer.from_pretrained(path, gguf_file=GGUF_FILE)
        model = AutoModelForCausalLM.from_pretrained(path, gguf_file=GGUF_FILE, dtype=torch_dtype)
    elif source == "tiny-random":
        from repro.studies.kv_retrieval.tiny import tiny_llama, tiny_tokenizer

        tok = tiny_tokenizer()
        model = tiny_llama(len(tok)).to(torch_dtype)
    else:
        raise ValueError(f"kv_retrieval model must be one of {SOURCES}, got {source!r}")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"  # batched generation: every prompt ends at the last column
    model.generation_config.pad_token_id = tok.pad_token_id
    return model.to(device).eval(), tok


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def add_lora(model, r: int, alpha: int, top_layers: int, dropout: float = 0.0):
    """peft LoRA on every linear of the top `top_layers` decoder layers (`layers_to_transform`): the layers below
    get no adapter and need no gradient, so the backward pass stops at the lowest adapted layer."""
    from peft import LoraConfig, get_peft_model

    n = model.config.num_hidden_layers
    if not 1 <= top_layers <= n:
        raise ValueError(f"kv_retrieval finetune.top_layers must be in 1..{n}, got {top_layers}")
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS,
                     layers_to_transform=list(range(n - top_layers, n)), bias="none")
    return get_peft_model(model, cfg)


def adapter_state(model) -> dict:
    """The trainable tensors only (LoRA factors, or every weight for a full fine-tune)."""
    return {k: v.detach().cpu().contiguous() for k, v in model.named_parameters() if v.requires_grad}


def n_trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
