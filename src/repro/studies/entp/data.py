"""Count3 and addition data, generated with vectorised torch code on the training device.

Count3 (brief, repo HEAD): s i.i.d. seed tokens uniform on [0, V); then for every prefix length n >= s,
    x_{n+1} = |{(i, j) in [n]^2 : x_i + x_j + x_n = 0 (mod n)}| mod n,
ordered pairs, i = j allowed, and **the modulus is the current length n** (not the vocabulary size).
The sequence is extended to block + 1 tokens; inputs x[:, :-1], targets x[:, 1:], scored at input positions
s..block-1 (block - s predictions per sequence).

Addition: "$a+b=" followed by the digits of c = a + b (reversed or not) and a closing "$". The model is scored
on the answer digits and the closing "$" only, i.e. on what greedy generation after "=" must produce.

The ENTP repository's sample-efficiency data (`entp_addition_split`): every pair (a, b) of at most `digits`
digits with at least two digits in one operand; at 3 digits 90% of the 3-digit pairs are dropped first
(stratified by carries); train and test are drawn stratified by (digits, carries); every one-digit pair is then
added to training and none is ever tested. Training text is the lines "$a+b=c$" packed into one stream, from
which the repository takes a window of `block` characters at every offset (language-model training with a loss
on every character).
"""

from __future__ import annotations

import numpy as np
import torch

# Addition vocabulary: digits 0-9, then the symbols.
PLUS, EQ, DOLLAR, PAD, NEWLINE = 10, 11, 12, 13, 14
ADD_VOCAB = 15


def seed_ids(seeds: torch.Tensor, vocab: int) -> torch.Tensor:
    """(N, seed_len) seed tokens -> (N,) integer id of each seed (its base-vocab number)."""
    powers = vocab ** torch.arange(seeds.shape[1], device=seeds.device)
    return (seeds * powers).sum(1)


def is_test_seed(seeds: torch.Tensor, vocab: int, test_one_in: int) -> torch.Tensor:
    """The seed space is split once: a seed is a test seed when a fixed hash of its id is 0 mod test_one_in.
    A Count3 sequence is a function of its seed, so train and test sequences never coincide."""
    h = (seed_ids(seeds, vocab) * 2654435761 + 97) % 2**31  # Knuth's multiplicative hash, deterministic
    return h % test_one_in == 0


def _seeds(batch, seed_len, vocab, g, device, split, test_one_in):
    """(batch, seed_len) seed tokens from the whole space (split None) or from its train/test part."""
    if split is None:
        return torch.randint(0, vocab, (batch, seed_len), generator=g, device=device)
    want_test = split == "test"
    out, have = [], 0
    while have < batch:  # rejection sampling: a test part of 1/test_one_in needs ~test_one_in draws per seed
        draw = torch.randint(0, vocab, (max(batch, 64) * (test_one_in if want_test else 2), seed_len),
                             generator=g, device=device)
        keep = draw[is_test_seed(draw, vocab, test_one_in) == want_test]
        out.append(keep)
        have += len(keep)
    return torch.cat(out)[:batch]


def count3(batch: int, block: int, seed_len: int, vocab: int, g: torch.Generator, device=None,
           split: str | None = None, test_one_in: int = 16) -> torch.Tensor:
    """(batch, block + 1) Count3 sequences (int64); split "train" or "test" draws seeds from that part only."""
    device = device or g.device
    x = torch.zeros(batch, block + 1, dtype=torch.long, device=device)
    x[:, :seed_len] = _seeds(batch, seed_len, vocab, g, device, split, test_one_in)
    rows = torch.arange(batch, device=device)
    for n in range(seed_len, block + 1):
        r = x[:, :n] % n  # residues of x_1..x_n
        hist = torch.zeros(batch, n, dtype=torch.long, device=device).scatter_add_(1, r, torch.ones_like(r))
        # pairs (i, j) with r_i + r_j = -x_n (mod n): sum_a hist[a] * hist[(-x_n - a) mod n]
        a = torch.arange(n, device=device)
        partner = (-(r[:, -1:]) - a) % n
        count = (hist * hist.gather(1, partner)).sum(1)
        x[rows, n] = count % n
    return x


def count3_brute(prefix: list[int]) -> int:
    """The next Count3 token by the definition, O(n^2): the reference the fast generator is tested against."""
    n = len(prefix)
    last = prefix[-1]
    return sum((xi + xj + last) % n == 0 for xi in prefix for xj in prefix) % n


def count3_positions(block: int, seed_len: int) -> list[int]:
    """Input positions whose targets are scored: s..block-1."""
    return list(range(seed_len, block))


# ---------------------------------------------------------------------------------------------- addition
def _digits(n: torch.Tensor, width: int) -> torch.Tensor:
    """(N,) non-negative ints -> (N, width) most-significant-first digits (zero-padded on the left)."""
    powers = 10 ** torch.arange(width - 1, -1, -1, device=n.device)
    return (n[:, None] // powers) % 10


def _ndigits(n: torch.Tensor) -> torch.Tensor:
    out = torch.ones_like(n)
    m = n // 10
    while bool((m > 0).any()):
        out += (m > 0).long()
        m //= 10
    return out


MAX_DIGITS = 18  # int64 holds the sum of two 18-digit numbers


def sample_operands(count: int, min_digits: int, max_digits: int, g: torch.Generator) -> torch.Tensor:
    """Numbers whose digit count is uniform on [min_digits, max_digits], then uniform among such numbers
    (digit by digit, exact in int64), so short operands are not swamped by long ones."""
    if not 1 <= min_digits <= max_digits <= MAX_DIGITS:
        raise ValueError(f"operand digits must satisfy 1 <= min <= max <= {MAX_DIGITS}, got {min_digits}, {max_digits}")
    nd = torch.randint(min_digits, max_digits + 1, (count,), generator=g)
    digits = torch.randint(0, 10, (count, max_digits), generator=g)
    lead = torch.randint(1, 10, (count,), generator=g)
    col = torch.arange(max_digits)[None, :]
    digits = torch.where(col == (max_digits - nd)[:, None], lead[:, None], digits)  # nonzero leading digit ...
    digits = torch.where(col < (max_digits - nd)[:, None], 0, digits)  # ... and nothing before it
    digits[:, -1] = torch.where(nd == 1, torch.randint(0, 10, (count,), generator=g), digits[:, -1])  # 0 is 1-digit
    powers = 10 ** torch.arange(max_digits - 1, -1, -1)
    return (digits * powers).sum(1)


def encode_addition(a: torch.Tensor, b: torch.Tensor, reverse: bool) -> tuple[torch.Tensor, torch.Tensor,
                                                                              torch.Tensor]:
    """Token sequences "$a+b=c$" right-padded with PAD.

    Returns tokens (N, L), prompt_len (N,) = length of "$a+b=" and total_len (N,). The scored positions of
    row i are prompt_len[i]-1 .. total_len[i]-2 (the input positions whose next token is an answer token or
    the closing "$").
    """
    c = a + b
    la, lb, lc = _ndigits(a), _ndigits(b), _ndigits(c)
    width = int(max(la.max(), lb.max(), lc.max()))
    da, db, dc = _digits(a, width), _digits(b, width), _digits(c, width)
    N = a.shape[0]
    prompt_len = la + lb + 3
    total_len = prompt_len + lc + 1
    L = int(total_len.max())
    tok = torch.full((N, L), PAD, dtype=torch.long)
    pos = torch.arange(L)[None, :]
    tok[:, 0] = DOLLAR

    def put(dig, nd, start):  # write the last nd digits of each row starting at column start
        for k in range(width):  # k-th digit from the left of the zero-padded number
            col = start + k - (width - nd)
            ok = (k >= width - nd)
            tok[ok, col[ok]] = dig[ok, k]

    put(da, la, torch.ones_like(la))
    tok[torch.arange(N), 1 + la] = PLUS
    put(db, lb, 2 + la)
    tok[torch.arange(N), prompt_len - 1] = EQ
    if reverse:
        dc_rev = torch.zeros_like(dc)
        for i in range(N):  # digits of c least-significant first
            dc_rev[i, :lc[i]] = dc[i, width - lc[i]:].flip(0)
        for k in range(width):
            ok = k < lc
            tok[ok, (prompt_len + k)[ok]] = dc_rev[ok, k]
    else:
        put(dc, lc, prompt_len)
    tok[torch.arange(N), total_len - 1] = DOLLAR
    assert bool(((pos < total_len[:, None]) | (tok == PAD)).all())
    return tok, prompt_len, total_len


def decode(tokens) -> str:
    sym = {PLUS: "+", EQ: "=", DOLLAR: "$", PAD: "", NEWLINE: "\n"}
    return "".join(sym.get(int(t), str(int(t))) for t in tokens)


def encode_pairs(pairs: np.ndarray, reverse: bool):
    """encode_addition of an (n, 2) array of (a, b) pairs."""
    return encode_addition(torch.as_tensor(pairs[:, 0]), torch.as_tensor(pairs[:, 1]), reverse)


def length_split(n_train: int, n_test: int, train_digits: tuple[int, int], test_digits: tuple[int, int],
                 seed: int, reverse: bool = True):
    """Length-generalisation split: training operands have train_digits digits; each test pair has one operand
    (either side at random) with test_digits digits and the other drawn like the training operands."""
    g = torch.Generator().manual_seed(seed)
    train = torch.stack([sample_operands(n_train, *train_digits, g), sample_operands(n_train, *train_digits, g)], 1)
    long_ = sample_operands(n_test, *test_digits, g)
    short = sample_operands(n_test, *train_digits, g)
    swap = torch.rand(n_test, generator=g) < 0.5
    test = torch.stack([torch.where(swap, short, long_), torch.where(swap, long_, short)], 1)
    return encode_addition(train[:, 0], train[:, 1], reverse), encode_addition(test[:, 0], test[:, 1], reverse)


# ---------------------------------------------------------------------------------- ENTP repository's protocol
def n_digits(x: np.ndarray) -> np.ndarray:
    return np.maximum(1, np.floor(np.log10(np.maximum(x, 1))).astype(int) + 1)


def count_carries(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Digit positions whose column sum (with the incoming carry) carries out, as the repo counts them."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    carry, count = np.zeros_like(a), np.zeros_like(a)
    while bool((a > 0).any() or (b > 0).any()):
        carry = (a % 10 + b % 10 + carry) // 10
        count += carry > 0
        a, b = a // 10, b // 10
    return count


def entp_addition_split(n_train: int, n_test: int, digits: int, seed: int, top_keep: float = 0.1):
    """(train, test) arrays of (a, b) pairs by the ENTP repository's recipe (module docstring): train holds
    n_train pairs, the last 100 of them the one-digit pairs in order; test holds n_test pairs, none one-digit.
    `top_keep` is the share of `digits`-digit pairs kept before splitting (the repo: 0.1 at 3 digits; 1 keeps all)."""
    from sklearn.model_selection import train_test_split

    a, b = (g.ravel() for g in np.meshgrid(np.arange(10**digits), np.arange(10**digits), indexing="ij"))
    nd, carries = np.maximum(n_digits(a), n_digits(b)), count_carries(a, b)
    idx = np.flatnonzero(nd > 1)
    if top_keep < 1:
        top = idx[nd[idx] == digits]
        kept, _ = train_test_split(top, train_size=top_keep, shuffle=True, stratify=carries[top], random_state=seed)
        idx = np.concatenate([idx[nd[idx] < digits], kept])
    n_one = 100  # every one-digit pair goes to training
    if not (0 < n_train - n_one and n_train - n_one + n_test <= len(idx)):
        raise ValueError(f"entp addition: n_train must exceed {n_one} (the one-digit pairs) and n_train - {n_one} + "
                         f"n_test <= {len(idx)} pairs, got n_train {n_train}, n_test {n_test}")
    train, test = train_test_split(idx, train_size=n_train - n_one, test_size=n_test, shuffle=True,
                                   stratify=nd[idx] * 100 + carries[idx], random_state=seed)
    one = np.array([(i, j) for i in range(10) for j in range(10)])
    return np.concatenate([np.stack([a[train], b[train]], 1), one]), np.stack([a[test], b[test]], 1)


def packed_stream(pairs: np.ndarray, reverse: bool) -> torch.Tensor:
    """The training text "$a+b=c$\n" for every pair, in order, as one token stream."""
    tok, _, total = encode_pairs(pairs, reverse)
    lines = [torch.cat([row[:n], torch.tensor([NEWLINE])]) for row, n in zip(tok, total.tolist())]
    return torch.cat(lines)


def stream_windows(stream: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ENTP repository's block dataset: a window of `block` inputs at **every offset** of the stream, with its
    next-token targets. Window i holds inputs stream[i : i + block] and targets stream[i + 1 : i + block + 1], for
    i = 0 .. len(stream) - block - 1, so the last window ends on the stream's last token (nothing is dropped).
    Returned as views of the stream, (n_windows, block) each, without copying it block times."""
    if len(stream) < block + 1:
        raise ValueError(f"entp addition: a training stream of {len(stream)} tokens has no window of {block}")
    w = stream.unfold(0, block + 1, 1)  # (len - block, block + 1): every offset
    return w[:, :-1], w[:, 1:]
