"""A dataset as bench uses it: test (or training) data as arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from harness.errors import ConfigError


@dataclass(frozen=True)
class Dataset:
    name: str
    x: np.ndarray  # float32, N x sample shape
    y: np.ndarray  # int64, N
    classes: int

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def hash(self) -> str:
        h = hashlib.sha256()
        h.update(repr(self.x.shape).encode())
        h.update(np.ascontiguousarray(self.x, dtype="<f4").tobytes())
        h.update(np.ascontiguousarray(self.y, dtype="<i8").tobytes())
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.y)

    def check_fits(self, input_shape: tuple[int, ...]) -> None:
        if self.sample_shape != tuple(input_shape):
            raise ConfigError(
                f"dataset {self.name} has samples of shape {self.sample_shape} but the model "
                f"takes {tuple(input_shape)} (x must be N x {' x '.join(map(str, input_shape))})")
