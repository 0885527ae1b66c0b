"""A stand-in for the PaliGemma text tokenizer, for tests and benchmarks on machines without the real one.

The real ``tokenizer.json`` of ``google/paligemma-3b-pt-224`` could not be obtained here. At the real size
(257 152 ids, ``<image>`` added after them) the pieces of pi0-FAST's prompt sit at their PaliGemma ids
(``PALIGEMMA_IDS``, Gemma's first 256 000 ids, read from published token lists: the Gemma tokenizer
integration test of transformers, and pi0-FAST runtimes' tests of the prompt "Task: pick up cube, State:
128 255 0;\\nAction: " = 2, 7071, 235292, 4788, 908, 28660, 235269, 3040, 235292, 235248, 235274, 235284,
235321, 235248, 235284, 235308, 235308, 235248, 235276, 235289, 108, 4022, 235292, 235248, with "|" 235371
closing the action tokens). Text is split as Gemma splits this template: spaces become "▁" glued to the
next word, every digit is its own piece (so a state bin is "▁" and one to three digits, "▁-" before a
negative one), and ":", ",", ";", "|", "\\n" are single pieces. Other words get ids of their own; the
remaining ids are filler pieces. A reduced vocabulary (tests of a tiny network) keeps the special ids
0-3 and packs the other pieces from id 4: the real ids of "|" or ":" lie beyond it. The runtime never
depends on these ids: it asks the tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers

PALIGEMMA_VOCAB_SIZE = 257_152
SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>")
DIGITS = tuple(str(d) for d in range(10))
PALIGEMMA_IDS = {
    "<pad>": 0,
    "<eos>": 1,
    "<bos>": 2,
    "<unk>": 3,
    "\n": 108,
    "▁the": 573,
    "▁-": 728,
    "▁up": 908,
    "▁State": 3040,
    "Action": 4022,
    "▁pick": 4788,
    "Task": 7071,
    "▁cube": 28660,
    "▁": 235248,
    ",": 235269,
    ";": 235289,
    ":": 235292,
    "|": 235371,
    **dict(zip(DIGITS, (235276, 235274, 235284, 235304, 235310, 235308, 235318, 235324, 235321, 235315), strict=True)),
}
GEMMA_SPLIT = r"▁-|▁?[^▁\s\d:;,|\-]+|▁|\d|[\n:;,|\-]"


def stand_in_tokenizer(words: Iterable[str] = (), vocab_size: int = PALIGEMMA_VOCAB_SIZE) -> Tokenizer:
    """Word-level pieces for the template, the digits and the words of ``words`` (each as "▁word", as it
    follows "Task:" or another word)."""
    split = pre_tokenizers.Split(Regex(GEMMA_SPLIT), behavior="isolated")
    wanted = list(PALIGEMMA_IDS)
    for text in words:
        wanted += [piece for piece, _ in split.pre_tokenize_str("▁" + text.replace(" ", "▁"))]
    wanted = list(dict.fromkeys(wanted))
    if len(wanted) > vocab_size:
        raise ValueError(f"{len(wanted)} pieces do not fit a vocabulary of {vocab_size}")
    fixed = PALIGEMMA_IDS if vocab_size == PALIGEMMA_VOCAB_SIZE else {s: i for i, s in enumerate(SPECIALS)}
    ids = dict(fixed)
    reserved = set(fixed.values())
    free = (i for i in range(vocab_size) if i not in reserved)
    ids.update((piece, next(free)) for piece in wanted if piece not in ids)
    taken = set(ids.values())
    ids.update((f"<unused{i}>", i) for i in range(vocab_size) if i not in taken)
    tokenizer = Tokenizer(models.WordLevel(ids, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.pre_tokenizer = split
    tokenizer.add_special_tokens([AddedToken(s, special=True) for s in SPECIALS])
    tokenizer.add_tokens([AddedToken("<image>", special=True)])
    return tokenizer
