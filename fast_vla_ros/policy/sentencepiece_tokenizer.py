"""PaliGemma's SentencePiece ``tokenizer.model`` as a Hugging Face ``tokenizers`` tokenizer, no remote code.

``google/paligemma-3b-pt-224`` ships ``tokenizer.json`` beside ``tokenizer.model``; openpi and big_vision
ship only the SentencePiece file (``paligemma_tokenizer.model``). transformers' own converter reads it
(``SentencePieceExtractor``: vocabulary and BPE merges from the model's protobuf; ``GemmaTokenizer``: the
BPE with byte fallback, spaces as "▁", that PaliGemma's ``tokenizer.json`` holds). Control pieces keep
their ids; user-defined pieces (``<mask>``, ``<start_of_turn>``, ...) are matched whole, as SentencePiece
matches them; ``<image>`` is added after the base vocabulary, where Hugging Face's PaliGemma files put it
(id 257 152). Before use, the result must give SentencePiece's own ids for a pi0-FAST prompt.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import AddedToken, Tokenizer
from tokenizers.models import BPE

from fast_vla_ros.policy.errors import CheckpointError

IMAGE_TOKEN = "<image>"
PALIGEMMA_SPECIAL_IDS = {"pad": 0, "eos": 1, "bos": 2, "unk": 3}
# Every piece of the template pi0-FAST writes: words, punctuation, a negative bin, digits, the end marker.
PROBE = "Task: pick up the red cube, State: 0 128 255 -1;\nAction: |"
INSTALL = (
    "reading a SentencePiece tokenizer.model needs the sentencepiece and protobuf packages (pinned in "
    "requirements.txt: pip install -r requirements.txt), or use the tokenizer.json that "
    "google/paligemma-3b-pt-224 ships beside it"
)


def load_sentencepiece(path: Path) -> Tokenizer:
    try:
        import sentencepiece
        from transformers import GemmaTokenizer
        from transformers.convert_slow_tokenizer import SentencePieceExtractor
    except ImportError as error:
        raise CheckpointError(f"{path}: {INSTALL} ({error})") from error
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.Load(str(path))
    except (OSError, RuntimeError) as error:
        raise CheckpointError(f"{path}: not a SentencePiece model ({error})") from error
    roles = {"pad": processor.pad_id(), "eos": processor.eos_id(), "bos": processor.bos_id()}
    roles["unk"] = processor.unk_id()
    if roles != PALIGEMMA_SPECIAL_IDS:
        raise CheckpointError(f"{path}: special ids {roles}, PaliGemma's are {PALIGEMMA_SPECIAL_IDS}")
    try:
        extracted = SentencePieceExtractor(str(path)).extract(BPE)
    except ImportError as error:  # transformers asks for protobuf here
        raise CheckpointError(f"{path}: {INSTALL} ({error})") from error
    pieces = {role: processor.id_to_piece(i) for role, i in roles.items()}
    gemma = GemmaTokenizer(
        vocab=extracted["vocab"],
        merges=extracted["merges"],
        pad_token=pieces["pad"],
        eos_token=pieces["eos"],
        bos_token=pieces["bos"],
        unk_token=pieces["unk"],
        mask_token=None,
    )
    tokenizer = gemma.backend_tokenizer
    tokenizer.add_tokens([token for token in extracted["additional_special_tokens"] if not token.special])
    if tokenizer.token_to_id(IMAGE_TOKEN) is None:
        tokenizer.add_special_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)])
    if tokenizer.get_vocab_size(with_added_tokens=False) != processor.get_piece_size():
        raise CheckpointError(
            f"{path}: converted to {tokenizer.get_vocab_size(with_added_tokens=False)} ids, "
            f"SentencePiece has {processor.get_piece_size()}"
        )
    converted, expected = tokenizer.encode(PROBE, add_special_tokens=False).ids, processor.encode(PROBE)
    if converted != expected:
        raise CheckpointError(
            f"{path}: the conversion does not reproduce SentencePiece's ids for {PROBE!r} "
            f"({converted} vs {expected}); use the tokenizer.json of google/paligemma-3b-pt-224"
        )
    return tokenizer
