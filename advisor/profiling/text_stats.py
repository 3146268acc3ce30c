"""Text under the backbone's tokenizer: lengths, truncation, fragmentation, unknown tokens, script and language."""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Any

import numpy as np

from advisor.profiling.evidence import TextStats

# Very frequent English function words: their share of all words is a cheap, dependency-free English test.
_ENGLISH = frozenset("the of and to in a is that for it on was with as be by at this are from has".split())
# Beyond this a tokenizer's model_max_length is a sentinel ("no limit"), not a real length.
_NO_LIMIT = 100_000


def _script(char: str) -> str:
    try:
        name = unicodedata.name(char)
    except ValueError:
        return "other"
    return name.split(" ", 1)[0].title()


def scripts(texts: list[str], limit_chars: int = 200_000) -> dict[str, float]:
    """Share of letters per Unicode script (first word of the character name: Latin, Cyrillic, Cjk …)."""
    counts: Counter[str] = Counter()
    seen = 0
    for text in texts:
        for char in text:
            if char.isalpha():
                counts[_script(char)] += 1
                seen += 1
        if seen >= limit_chars:
            break
    total = sum(counts.values()) or 1
    return {name: round(n / total, 4) for name, n in counts.most_common(5)}


def language_hint(texts: list[str], script_shares: dict[str, float]) -> str:
    """ "English", "Latin-script, not English" or "<Script> script": a hint, not a classifier."""
    words = [w.lower().strip(".,;:!?\"'()") for t in texts[:500] for w in t.split()]
    english = sum(w in _ENGLISH for w in words) / max(len(words), 1)
    main = max(script_shares, key=lambda k: script_shares[k]) if script_shares else "none"
    if main == "Latin":
        return (
            f"English (function words are {english:.0%} of words)"
            if english >= 0.15
            else f"Latin-script, probably not English (English function words {english:.0%})"
        )
    return f"{main} script"


def text_stats(texts: list[str], tokenizer: Any, max_length: int) -> TextStats:
    """Token statistics of `texts` under `tokenizer`; `max_length` is the runners' truncation length."""
    encoded = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    lengths = np.array([len(ids) for ids in encoded])
    special = set(getattr(tokenizer, "all_special_ids", []))
    unk = getattr(tokenizer, "unk_token_id", None)
    pieces = sum(sum(1 for t in ids if t not in special) for ids in encoded)
    n_unk = sum(sum(1 for t in ids if t == unk) for ids in encoded) if unk is not None else 0
    word_counts = np.array([len(t.split()) for t in texts])
    model_max = getattr(tokenizer, "model_max_length", None)
    model_max = int(model_max) if model_max and model_max < _NO_LIMIT else None
    shares = scripts(texts)
    return TextStats(
        tokenizer=str(getattr(tokenizer, "name_or_path", type(tokenizer).__name__)),
        words=(int(word_counts.min()), int(np.median(word_counts)), int(word_counts.max())),
        tokens=(
            int(lengths.min()),
            int(np.median(lengths)),
            int(np.percentile(lengths, 95)),
            int(lengths.max()),
        ),
        max_length=max_length,
        truncation_rate=float((lengths > max_length).mean()),
        model_max_length=model_max,
        truncation_rate_at_model_max=float((lengths > model_max).mean()) if model_max else None,
        fragmentation=pieces / max(int(word_counts.sum()), 1),
        unk_rate=n_unk / max(pieces, 1),
        latin_share=shares.get("Latin", 0.0),
        scripts=shares,
        language_hint=language_hint(texts, shares),
    )
