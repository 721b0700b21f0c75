"""One error tree for bench. Every error carries a message for a human.

The CLI prints ``str(err)`` on one line of stderr and exits non-zero, so a
message must say what went wrong and, where possible, what to do about it.
"""

from __future__ import annotations


class BenchError(RuntimeError):
    """Root of every error bench raises on purpose."""


class ConfigError(BenchError):
    """Bad user input: unknown board, missing file, wrong shape."""


class ModelError(BenchError):
    """A model that cannot be imported or is not supported."""


class EngineError(BenchError):
    """Code generation failed for a supported reason."""


class BuildError(BenchError):
    """The firmware did not compile or link, or does not fit the board."""


class ToolMissingError(BenchError):
    """An external program (compiler, emulator) is not installed."""


class BackendError(BenchError):
    """The emulator or board could not be started, or died."""


class ProtocolError(BenchError):
    """The device said something the host cannot accept."""

    def __init__(self, message: str, frame: int | None = None) -> None:
        self.frame = frame
        super().__init__(message if frame is None else f"{message} (frame {frame})")


class StoreError(BenchError):
    """The results database could not be read or written."""


class MeterError(BenchError):
    """A power meter could not be reached, answered an error, or gave a
    trace that cannot be turned into energy per inference."""
