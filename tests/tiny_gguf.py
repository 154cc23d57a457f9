"""A tiny but real GGUF checkpoint for tests of the embedded model's cache (see models.py).

It keeps the embedded SmolLM2 GGUF's tokenizer (copied from its metadata, so transformers builds
the same fast tokenizer) and replaces the 30 quantized layers by one random float32 layer of width
16: a ~4 MB file that `convert_gguf` dequantizes in a second or two instead of tens of seconds and
538 MB, through the same code path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HIDDEN, FFN, HEADS, KV_HEADS, LAYERS = 16, 32, 2, 1, 1

# metadata copied as-is (the tokenizer); the architecture's sizes are written anew
TOKENIZER_KEYS = (
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_space_prefix",
    "tokenizer.chat_template",
)


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    """Write a one-layer Llama GGUF with the embedded model's tokenizer to `path`; skip without it."""
    import numpy as np

    gguf = pytest.importorskip("gguf")
    from qstar_cli.backends.models import embedded_gguf
    from qstar_cli.errors import QstarError

    try:
        source = gguf.GGUFReader(embedded_gguf())
    except QstarError as exc:
        pytest.skip(str(exc))
    vocab = len(source.fields["tokenizer.ggml.tokens"].data)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test-llama")
    writer.add_block_count(LAYERS)
    writer.add_context_length(512)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HIDDEN // HEADS)
    writer.add_rope_freq_base(100000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    for key in TOKENIZER_KEYS:
        field = source.fields[key]
        value = field.contents()
        types = field.types
        if types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_array(key, value)
        else:
            writer.add_key_value(key, value, types[0])
    rng = np.random.default_rng(seed)
    head_dim = HIDDEN // HEADS

    def weight(*shape):  # numpy order: (out, in), the reverse of GGUF's
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(vocab, HIDDEN))
    writer.add_tensor("output_norm.weight", np.ones(HIDDEN, dtype=np.float32))
    for i in range(LAYERS):
        block = f"blk.{i}."
        writer.add_tensor(block + "attn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        writer.add_tensor(block + "ffn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        writer.add_tensor(block + "attn_q.weight", weight(HEADS * head_dim, HIDDEN))
        writer.add_tensor(block + "attn_k.weight", weight(KV_HEADS * head_dim, HIDDEN))
        writer.add_tensor(block + "attn_v.weight", weight(KV_HEADS * head_dim, HIDDEN))
        writer.add_tensor(block + "attn_output.weight", weight(HIDDEN, HEADS * head_dim))
        writer.add_tensor(block + "ffn_gate.weight", weight(FFN, HIDDEN))
        writer.add_tensor(block + "ffn_up.weight", weight(FFN, HIDDEN))
        writer.add_tensor(block + "ffn_down.weight", weight(HIDDEN, FFN))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
