"""A synthetic supply-current waveform whose energy per pulse is known in
closed form, shared by the meter simulators.

Pulse k (k = 0..n-1) sits centred in slot k of the record, lasts ``width_s``,
and carries a half-sine on top of the baseline:

    I(t) = base_a + amp_k * sin(pi * (t - t_k) / width_s),  amp_k = amp_a * (1 + 0.25 * (k % 4))
    V(t) = supply_v - r_ohm * I(t)   (the supply's droop under load)

so  E_k = integral of V*I = supply_v * (base*w + 2*amp_k*w/pi)
                            - r_ohm * (base^2*w + 4*base*amp_k*w/pi + amp_k^2*w/2).
With ``shape="rect"`` the pulse is a step instead (an MCU waking from sleep
to run an inference): I = base_a + amp_k during the pulse, so
    E_k = supply_v * (base + amp_k) * w - r_ohm * (base + amp_k)^2 * w.
The trigger pin is high exactly during each pulse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Waveform:
    pulses: int = 5
    width_s: float = 0.02
    record_s: float = 0.5  # pulses are spread over this span
    base_a: float = 0.002
    amp_a: float = 0.008
    supply_v: float = 3.3
    r_ohm: float = 0.5
    clip_a: float | None = None  # clamp the current here (a saturated range)
    shape: str = "halfsine"  # or "rect"

    def amp(self, k: int) -> float:
        return self.amp_a * (1 + 0.25 * (k % 4))

    def starts(self) -> list[float]:
        slot = self.record_s / self.pulses
        assert self.width_s < slot, "pulses overlap"
        return [k * slot + (slot - self.width_s) / 2 for k in range(self.pulses)]

    def energy_j(self, k: int) -> float:
        w, b, a = self.width_s, self.base_a, self.amp(k)
        if self.shape == "rect":
            return self.supply_v * (b + a) * w - self.r_ohm * (b + a) ** 2 * w
        return (self.supply_v * (b * w + 2 * a * w / math.pi)
                - self.r_ohm * (b * b * w + 4 * b * a * w / math.pi + a * a * w / 2))

    def sample(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Current (A), voltage (V) and trigger (bool) at times t."""
        cur = np.full(t.shape, self.base_a)
        trig = np.zeros(t.shape, dtype=bool)
        for k, t0 in enumerate(self.starts()):
            inside = (t >= t0) & (t < t0 + self.width_s)
            if self.shape == "rect":
                cur[inside] += self.amp(k)
            else:
                cur[inside] += self.amp(k) * np.sin(math.pi * (t[inside] - t0) / self.width_s)
            trig |= inside
        volt = self.supply_v - self.r_ohm * cur
        if self.clip_a is not None:
            cur = np.minimum(cur, self.clip_a)
        return cur, volt, trig
