"""A character-level ChatML tokenizer and a tiny random Llama, built in memory: tests and the smoke scale run the
whole pipeline with them (no files, no downloads)."""

from __future__ import annotations

import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

SPECIALS = ("<|im_start|>", "<|im_end|>", "<pad>", "<unk>")  # ids 0..3, in this order
CHARS = tuple(chr(c) for c in range(32, 127)) + ("\n",)  # printable ASCII and newline

# SmolLM2's ChatML shape, without its default system turn
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """One token per character (unknown characters: <unk>), the four special tokens whole, left padding."""
    vocab = {t: i for i, t in enumerate(SPECIALS + CHARS)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # [\s\S]: any character, newline included, whatever the regex engine's dot does
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tk.decoder = decoders.Fuse()  # join characters back without inserted spaces
    tk.add_special_tokens(list(SPECIALS))
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=None, eos_token="<|im_end|>",
                                               pad_token="<pad>", unk_token="<unk>", padding_side="left",
                                               clean_up_tokenization_spaces=False)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def tiny_llama(vocab_size: int, seed: int = 0) -> transformers.LlamaForCausalLM:
    """A 2-layer random Llama (hidden 64), the same weights for the same seed, in eval mode."""
    cfg = transformers.LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                                   tie_word_embeddings=True, bos_token_id=SPECIALS.index("<|im_start|>"),
                                   eos_token_id=SPECIALS.index("<|im_end|>"), pad_token_id=SPECIALS.index("<pad>"))
    with torch.random.fork_rng(devices=[]):  # seed the init without moving the caller's global RNG
        torch.manual_seed(seed)
        model = transformers.LlamaForCausalLM(cfg)
    return model.eval()
