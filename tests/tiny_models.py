"""Tiny offline models the tests train in seconds, written once here for every test package."""

from __future__ import annotations

from pathlib import Path

# Keyword texts for tiny text searches: each topic's own words (a tiny BERT learns them in seconds).
WORDS = {
    "sport": "football goal match team player coach league score",
    "tech": "computer software chip internet phone data network code",
    "money": "market shares profit bank economy trade price growth",
}


def save_tiny_bert(folder: Path) -> Path:
    """A random 2-layer BERT (hidden 32) with a word-level vocabulary of `WORDS`, saved to `folder`."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w for ws in WORDS.values() for w in ws.split()})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    return folder
