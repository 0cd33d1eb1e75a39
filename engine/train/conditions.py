"""The training split's captions as the U-Net's condition: each embedded once (the encoder is
frozen), then per batch padded, with each row dropped at the configured rate so the model also
learns the unconditional case that classifier-free guidance contrasts against."""

from __future__ import annotations

import torch

from engine.text import text_encoder


class Conditions:
    def __init__(self, encoder: str, captions: list[str], dropout: float) -> None:
        """`encoder` "": no text, every batch unconditioned."""
        self.dropout = dropout
        self.embedded: dict[str, tuple[torch.Tensor, int]] = {}
        if encoder:
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
