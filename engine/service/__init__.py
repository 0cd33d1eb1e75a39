"""The model as a service: the engine (ZeroMQ server), the cluster mode (its jobs on Ray Serve
replicas: `engine.service.cluster`, imported only by `daw-diffusion cluster`), the broker in front
of several engines, CURVE security, and their command lines. Torch-free at import (the engine is
handed a pipeline); the protocol and client it speaks are `engine.protocol` and `engine.client`."""

from engine.service.engine import EngineService, ServiceConfig

__all__ = ["EngineService", "ServiceConfig"]
