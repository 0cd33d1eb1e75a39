"""Typed errors a user can act on. Every error carries a short machine-readable `code`
(used later in protocol replies) and a message written for a musician, not a debugger."""


class EngineError(Exception):
    """Base class: something the caller asked for cannot be done."""

    code = "engine_error"


class BadAudio(EngineError):
    """The audio given is empty, silent, non-finite or has an impossible shape."""

    code = "bad_audio"


class BadParameter(EngineError):
    """A parameter is out of range (lengths, regions, strength, steps, ...)."""

    code = "bad_parameter"


class TooLarge(EngineError):
    """A request whose result or work would be over the engine's limits (`engine.limits`)."""

    code = "too_large"


class UnknownTask(EngineError):
    code = "unknown_task"


class UnknownSampler(EngineError):
    code = "unknown_sampler"


class CheckpointError(EngineError):
    """A checkpoint is missing, corrupt, of another format or does not match its config."""

    code = "bad_checkpoint"


class JobCancelled(EngineError):
    """The job was cancelled between two sampler steps."""

    code = "cancelled"
