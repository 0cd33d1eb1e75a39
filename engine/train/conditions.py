"""The training split's captions as the U-Net's condition: each embedded once (the encoder is
frozen), then per batch padded, with each row dropped at the configured rate so the model also
learns the unconditional case that classifier-free guidance contrasts against. A packed data
folder brings its captions embedded (`engine.train.pack`): then the encoder is not loaded."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.text import text_encoder
from engine.train.pack import load_captions


class Conditions:
    def __init__(self, encoder: str, captions: list[str], dropout: float, data_dir: Path | None = None) -> None:
        """`encoder` "": no text, every batch unconditioned."""
        self.dropout = dropout
        self.embedded: dict[str, tuple[torch.Tensor, int]] = {}
        stored = load_captions(data_dir, encoder) if encoder and data_dir is not None else None
        if stored is not None and set(captions) <= set(stored):
            self.embedded = stored
        elif encoder:
            embeddings, mask = text_encoder(encoder).encode(captions)
            self.embedded = {text: (embeddings[i], int(mask[i].sum())) for i, text in enumerate(captions)}

    def batch(self, captions: list[str], generator: torch.Generator,
              device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Padded embeddings `[B, L, d]` and their mask `[B, L]` (a dropped row: all False)."""
        if not self.embedded:
            return None, None
        length = max(self.embedded[t][1] for t in captions)
        width = next(iter(self.embedded.values()))[0].shape[-1]
        cond = torch.zeros(len(captions), length, width)
        mask = torch.zeros(len(captions), length, dtype=torch.bool)
        keep = torch.rand(len(captions), generator=generator) >= self.dropout
        for i, text in enumerate(captions):
            embedding, n = self.embedded[text]
            cond[i, :n] = embedding[:n]
            mask[i, :n] = bool(keep[i])
        return cond.to(device), mask.to(device)
