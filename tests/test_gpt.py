"""The shared GPT: shapes, causal masking, encoder mode, padding masks, and residual read/replace hooks."""

import pytest
import torch

from repro.models.gpt import GPT, GPTConfig


def _model(**kw):
    base = dict(n_layer=3, n_head=2, d_model=32, max_len=16, vocab_size=11)
    base.update(kw)
    torch.manual_seed(0)
    return GPT(GPTConfig(**base)).eval()


@pytest.mark.parametrize("pos", ["learned", "rotary", "none"])
def test_shapes_token_and_linear_read_in(pos):
    m = _model(pos=pos)
    assert m(torch.randint(0, 11, (4, 9))).shape == (4, 9, 11)
    lin = _model(vocab_size=None, d_in=5, d_out=1, pos=pos)
    assert lin(torch.randn(4, 9, 5)).shape == (4, 9, 1)


def test_config_rejects_ambiguous_read_in():
    with pytest.raises(ValueError):
        GPTConfig(vocab_size=10, d_in=3)
    with pytest.raises(ValueError):
        GPTConfig(d_in=3)  # linear read-in needs d_out


@pytest.mark.parametrize("pos", ["learned", "rotary"])
def test_causal_outputs_ignore_the_future(pos):
    m = _model(pos=pos)
    x = torch.randint(0, 11, (2, 10))
    y = x.clone()
    y[:, 6:] = (y[:, 6:] + 1) % 11
    a, b = m(x), m(y)
    torch.testing.assert_close(a[:, :6], b[:, :6])
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-4


def test_encoder_mode_sees_the_whole_sequence():
    m = _model(causal=False)
    x = torch.randint(0, 11, (2, 10))
    y = x.clone()
    y[:, 9] = (y[:, 9] + 1) % 11
    assert (m(x)[:, 0] - m(y)[:, 0]).abs().max() > 1e-4


@pytest.mark.parametrize("causal", [True, False])
def test_padding_mask_hides_padded_keys(causal):
    m = _model(causal=causal)
    x = torch.randint(0, 11, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[:, 7:] = False
    y = x.clone()
    y[:, 7:] = (y[:, 7:] + 3) % 11  # change only padded tokens
    torch.testing.assert_close(m(x, key_padding_mask=mask)[:, :7], m(y, key_padding_mask=mask)[:, :7])
    # Without the mask an encoder does see them.
    if not causal:
        assert (m(x)[:, :7] - m(y)[:, :7]).abs().max() > 1e-4


def test_masked_prefix_equals_the_truncated_sequence():
    """Encoder on a padded prefix == encoder on the prefix alone (what batched-prefix ENTP relies on)."""
    m = _model(causal=False, pos="rotary")
    x = torch.randint(0, 11, (1, 10))
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[:, :6] = True
    torch.testing.assert_close(m(x, key_padding_mask=mask)[:, :6], m(x[:, :6]), atol=1e-5, rtol=1e-5)


def test_reading_then_writing_back_the_same_residual_changes_nothing():
    m = _model()
    x = torch.randint(0, 11, (3, 8))
    out, res = m(x, read=[2])
    patched = m(x, patch={2: (5, res[2][:, 5])})
    torch.testing.assert_close(out, patched)


def test_patching_changes_exactly_the_downstream_outputs():
    m = _model()
    x = torch.randint(0, 11, (3, 8))
    other = torch.randint(0, 11, (3, 8))
    base, res = m(x, read=[0, 1, 2, 3])
    _, res_other = m(other, read=[2])
    out, res_p = m(x, read=[0, 1, 2, 3], patch={2: (5, res_other[2][:, 5])})
    # Positions before the patched one cannot see it (causal); it and later positions do.
    torch.testing.assert_close(out[:, :5], base[:, :5])
    assert (out[:, 5:] - base[:, 5:]).abs().amax(dim=(0, 2)).min() > 1e-5
    # Layers below the patch are untouched everywhere; the patched layer holds the new value.
    torch.testing.assert_close(res_p[1], res[1])
    torch.testing.assert_close(res_p[2][:, 5], res_other[2][:, 5])
    torch.testing.assert_close(res_p[3][:, :5], res[3][:, :5])


def test_max_len_is_enforced():
    m = _model()
    with pytest.raises(ValueError):
        m(torch.zeros(1, 17, dtype=torch.long))


def test_rotary_scores_depend_only_on_the_position_difference():
    from repro.models.gpt import apply_rotary, rotary_tables

    cos, sin = rotary_tables(32, 16, "cpu")
    q, k = torch.randn(16), torch.randn(16)
    # Place the same q and k at every position; the score q_i . k_j must be a function of i - j alone.
    Q = apply_rotary(q.expand(1, 1, 32, 16), cos, sin)[0, 0]
    K = apply_rotary(k.expand(1, 1, 32, 16), cos, sin)[0, 0]
    S = Q @ K.T
    for shift in (0, 3, 11):
        diag = torch.diagonal(S, offset=shift)
        torch.testing.assert_close(diag, diag[0].expand_as(diag), atol=1e-4, rtol=1e-4)
    assert (S[0, 0] - S[0, 5]).abs() > 1e-3  # and it does depend on the difference
