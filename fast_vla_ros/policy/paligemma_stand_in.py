"""A stand-in for the PaliGemma text tokenizer, for tests and benchmarks on machines without the real one.

The real ``tokenizer.json`` of ``google/paligemma-3b-pt-224`` could not be obtained here. What the
pi0-FAST runtime relies on is kept: ``<pad>`` 0, ``<eos>`` 1, ``<bos>`` 2, ``<unk>`` 3, a base vocabulary
of ``vocab_size`` ids (257 152 for PaliGemma) with ``<image>`` added right after it, SentencePiece's
habit of writing a space as "▁" glued to the next word (so "Action: " is "Action", ":", "▁"), and single
ids for "|", ":", ";" and the state bins. Ids beyond the words it knows are filler pieces; the real
tokenizer's ids for these words differ, which the runtime never depends on (it asks the tokenizer).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers

PALIGEMMA_VOCAB_SIZE = 257_152
SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>")
TEMPLATE = ("Task", ":", "▁State", ",", ";", "\n", "Action", "▁", "|")


def stand_in_tokenizer(words: Iterable[str] = (), vocab_size: int = PALIGEMMA_VOCAB_SIZE) -> Tokenizer:
    """Word-level pieces for the template, the state bins (-1..256) and ``words`` (each as "▁word")."""
    pieces = list(SPECIALS) + list(TEMPLATE) + [f"▁{b}" for b in range(-1, 257)]
    pieces += sorted({f"▁{w}" for text in words for w in text.split()} - set(pieces))
    if len(pieces) > vocab_size:
        raise ValueError(f"{len(pieces)} pieces do not fit a vocabulary of {vocab_size}")
    pieces += [f"<unused{i}>" for i in range(vocab_size - len(pieces))]
    tokenizer = Tokenizer(models.WordLevel({piece: i for i, piece in enumerate(pieces)}, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"▁?[^▁\s:;,|]+|▁|[:;,|\n]"), behavior="isolated")
    tokenizer.add_special_tokens([AddedToken(s, special=True) for s in SPECIALS])
    tokenizer.add_tokens([AddedToken("<image>", special=True)])
    return tokenizer
