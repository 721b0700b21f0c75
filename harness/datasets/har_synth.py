"""A synthetic human-activity-recognition set in the UCI-HAR layout.

SYNTHETIC: generated here from a simple physical model, not recorded. It
stands in for UCI-HAR (which cannot be fetched on the build machines) with
the same shape and the same kind of difficulty, so 1-D CNNs can be trained,
quantized and compared; its accuracies are not UCI-HAR accuracies.

Each sample is one 2.56 s window at 50 Hz: 6 channels (3-axis accelerometer
in g, 3-axis gyroscope in rad/s) x 128 steps. Six classes: walking, walking
upstairs, walking downstairs, sitting, standing, lying. Every "subject" has
its own sensor orientation, gait frequency and vigour; moving classes differ
in cadence, vertical impact and forward lean; static ones in the gravity
direction (sitting and standing only slightly, as in the real data).
"""

from __future__ import annotations

import numpy as np

from harness.datasets.base import Dataset

CLASSES = ("walking", "upstairs", "downstairs", "sitting", "standing", "lying")
RATE_HZ = 50.0
STEPS = 128
SUBJECTS = 30
TEST_SUBJECTS = 9  # held out, as UCI-HAR splits by subject
PER_SUBJECT_CLASS = 12
SEED = 2026

# cadence factor, vertical impact (g), forward lean (rad), sharpness of steps
_MOVES = {0: (1.00, 0.30, 0.05, 1.0), 1: (0.85, 0.38, 0.20, 1.3), 2: (1.12, 0.50, -0.10, 2.2)}
# gravity direction in the body frame for static classes (x forward, z up)
_POSTURES = {3: (0.30, 0.05, 0.95), 4: (0.12, 0.0, 0.99), 5: (0.97, 0.10, 0.18)}


def _rotation(rng: np.random.Generator, spread: float) -> np.ndarray:
    a, b, c = rng.normal(0.0, spread, 3)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _window(rng: np.random.Generator, label: int, mount: np.ndarray, cadence: float,
            vigour: float) -> np.ndarray:
    t = np.arange(STEPS) / RATE_HZ + rng.uniform(0, 2.0)
    acc = np.zeros((3, STEPS))
    gyro = np.zeros((3, STEPS))
    if label in _MOVES:
        factor, impact, lean, sharp = _MOVES[label]
        f = cadence * factor * rng.uniform(0.95, 1.05)
        phase = 2 * np.pi * f * t
        step = np.sin(phase) + 0.35 * sharp * np.sin(2 * phase + 0.6) + 0.12 * sharp * np.sin(
            3 * phase + 1.1)
        gravity = np.array([np.sin(lean), 0.0, np.cos(lean)])
        acc += gravity[:, None]
        acc[2] += vigour * impact * step
        acc[0] += vigour * 0.4 * impact * np.sin(phase / 2 + 0.3)
        acc[1] += vigour * 0.25 * impact * np.sin(phase / 2 + 1.9)
        gyro[0] += vigour * 0.6 * np.sin(phase / 2)
        gyro[1] += vigour * 0.9 * impact * np.sin(phase + 0.4)
        gyro[2] += vigour * 0.3 * np.sin(phase / 2 + 2.0)
    else:
        gravity = np.array(_POSTURES[label]) + rng.normal(0.0, 0.05, 3)
        acc += (gravity / np.linalg.norm(gravity))[:, None]
        sway = rng.uniform(0.2, 0.6)
        acc += 0.02 * np.sin(2 * np.pi * sway * t + rng.uniform(0, 6.3, (3, 1)))
        gyro += 0.03 * np.sin(2 * np.pi * sway * t + rng.uniform(0, 6.3, (3, 1)))
    acc = mount @ acc + rng.normal(0.0, 0.06, acc.shape)
    gyro = mount @ gyro + rng.normal(0.0, 0.05, gyro.shape)
    return np.concatenate([acc, gyro]).astype(np.float32)


def load_har_synth_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic; subjects 0..20 train, 21..29 test. N x 6 x 128, labels 0..5."""
    rng = np.random.default_rng(SEED)
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for subject in range(SUBJECTS):
        mount = _rotation(rng, 0.25)
        cadence = rng.uniform(1.6, 2.1)
        vigour = rng.uniform(0.7, 1.3)
        test = subject >= SUBJECTS - TEST_SUBJECTS
        for label in range(len(CLASSES)):
            for _ in range(PER_SUBJECT_CLASS):
                w = _window(rng, label, mount, cadence, vigour)
                if test == (split == "test"):
                    xs.append(w)
                    ys.append(label)
    return np.stack(xs), np.array(ys, dtype=np.int64)


def test() -> Dataset:
    x, y = load_har_synth_split("test")
    return Dataset(name="har-synth", x=x, y=y, classes=len(CLASSES))


def train() -> Dataset:
    x, y = load_har_synth_split("train")
    return Dataset(name="har-synth-train", x=x, y=y, classes=len(CLASSES))
