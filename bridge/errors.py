"""The bridge's one error base: every way a request or a job can go wrong here carries a short
code (the `/diffusion/error` code, the render CLI's exit) and a sentence for a musician."""

from __future__ import annotations


class BridgeError(Exception):
    def __init__(self, code: str, message: str, tag: str = "") -> None:
        super().__init__(message)
        self.code, self.tag = code, tag
