"""Runner for text classification with Hugging Face encoders (AutoModelForSequenceClassification)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from runners.backbones.build import build_hf_text
from runners.cache import make_key
from runners.data import LabelledData, from_memory
from runners.data.splits import Split
from runners.data.text import load_text_folder, load_text_table
from runners.errors import DataError
from runners.export import export_hf_text
from runners.predict import TextPredictor
from runners.runner import Runner
from runners.specs import DataSource, InMemoryData, ResolvedBackbone, TrialSpec


@dataclass
class TextBundle:
    """A built HF sequence classifier and its tokenizer."""

    model: nn.Module
    tokenizer: Any


class TextPipeline:
    """InputPipeline for text: tokenised once per split, padded per batch."""

    def __init__(self, data: LabelledData, split: Split, tokenizer: Any, max_length: int) -> None:
        index = {c: i for i, c in enumerate(split.class_names)}
        self.pad_id = tokenizer.pad_token_id or 0
        self.splits = {}
        for name in ("train", "val", "test"):
            idx = getattr(split, name)
            texts = [data.inputs[i] for i in idx]
            ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"] if texts else []
            self.splits[name] = (ids, torch.tensor([index[data.labels[i]] for i in idx], dtype=torch.long), texts)
        self.tokenizer_name = getattr(tokenizer, "name_or_path", type(tokenizer).__name__)
        self.max_length = max_length

    def size(self, split: str) -> int:
        return len(self.splits[split][0])

    def labels(self, split: str) -> torch.Tensor:
        return self.splits[split][1]

    def data_fingerprint(self, split: str, augment: bool) -> str:
        ids = self.splits[split][0]
        return make_key(tokens=[hash(tuple(t)) for t in ids], n=len(ids), max_length=self.max_length)

    def loader(self, split: str, order: list[int], augment: bool, batch_size: int) -> Iterable:
        ids, labels, _ = self.splits[split]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(len(ids[i]) for i in chunk)
            x = torch.full((len(chunk), length), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), length), dtype=torch.long)
            for row, i in enumerate(chunk):
                x[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            yield (x, mask), labels[chunk]


class HFTextRunner(Runner):
    """Text classification runner (HF encoders, packaged MiniLM weights, local folders)."""

    modality = "text"

    def load_data(self, source: DataSource, progress: Callable[[int, int], None] | None = None) -> LabelledData:
        """A table or text folder: read in one go (no decoding to wait on), so `progress` is not called."""
        if isinstance(source.data, InMemoryData):
            d = source.data
            if not all(isinstance(t, str) for t in d.inputs):
                raise DataError("text inputs must all be str")
            return from_memory(d.inputs, d.labels, d.split)
        path = Path(source.data)
        if path.is_dir():
            return load_text_folder(path, source.encoding)
        return load_text_table(path, source.text_column, source.label_column, source.encoding)

    def build(self, choice: ResolvedBackbone, class_names: list[str], backbone_kwargs: dict[str, Any]) -> TextBundle:
        model, tokenizer = build_hf_text(choice, class_names, backbone_kwargs)
        return TextBundle(model, tokenizer)

    def pipeline(self, bundle: TextBundle, data: LabelledData, split: Split, spec: TrialSpec) -> TextPipeline:
        return TextPipeline(data, split, bundle.tokenizer, spec.max_length)

    def export(self, bundle: TextBundle, class_names: list[str], spec: TrialSpec, model_dir: Path) -> None:
        export_hf_text(bundle.model, bundle.tokenizer, class_names, spec.max_length, model_dir)

    def predictor(self, bundle: TextBundle, class_names: list[str], spec: TrialSpec, device: torch.device):
        return TextPredictor(bundle.model, bundle.tokenizer, class_names, spec.max_length, device)

    def frozen_batches(
        self, bundle: TextBundle, inputs: list[Any], batch_size: int, *, image_size: int | None, max_length: int
    ) -> Iterator[tuple[torch.Tensor, ...]]:
        for start in range(0, len(inputs), batch_size):
            enc = bundle.tokenizer(
                list(inputs[start : start + batch_size]),
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            yield enc["input_ids"], enc["attention_mask"]
