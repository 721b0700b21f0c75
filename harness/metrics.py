"""How a run is scored: each task's metric, computed on the host from the
outputs the store keeps whole.

- classification: top-1 accuracy (label == argmax), and top-k where a k is
  given (the label among the k largest outputs);
- anomaly: the area under the ROC curve of a per-sample anomaly score, the
  mean squared reconstruction error (output vs input), as MLPerf Tiny
  scores its ToyADMOS autoencoder; labels 1 = anomalous, 0 = normal;
- regression (denoising): the mean squared error against the target, and
  the PSNR of each sample (10 log10(peak^2 / its MSE)) averaged over samples.

The per-sample scores (reconstruction or target MSE) are stored with each
sample; the run-level figures are recomputed from the store whenever a run
is summarised, so a metric can be recomputed (another k) without the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.errors import ConfigError
from harness.kinds import Task

NO_CLASS = -1  # a sample's label or prediction where the task has no classes
PSNR_CAP_DB = 100.0  # a sample reproduced exactly would be +inf dB


def task_of(text: str | None) -> Task:
    """A stored task; runs stored before tasks were recorded were classification."""
    return Task(text) if text else Task.CLASSIFICATION


def top_k_accuracy(outputs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of samples whose label is among the ``k`` largest outputs
    (ties broken by position, as ``argmax`` does for k = 1)."""
    if len(labels) == 0:
        return float("nan")
    k = min(k, outputs.shape[1])
    # a stable sort of the negated outputs keeps the first of equal outputs first
    top = np.argsort(-outputs, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (higher = more anomalous) for
    binary ``labels`` (1 = anomalous): the Mann-Whitney U statistic, ties
    counted one half. NaN when one class is missing."""
    scores = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(labels) == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over ties (1-based)
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def psnr_db(mse: float, peak: float) -> float:
    """10 log10(peak^2 / mse), capped at PSNR_CAP_DB for an exact copy."""
    if mse <= 0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10 * math.log10(peak * peak / mse))


def sample_score(task: Task, output: np.ndarray, x: np.ndarray,
                 target: np.ndarray | None) -> float | None:
    """What a sample contributes besides its outputs: the reconstruction MSE
    (anomaly), the MSE against the target (regression), nothing otherwise."""
    out = np.asarray(output, dtype=np.float64).ravel()
    if task == Task.ANOMALY:
        return float(np.mean((out - np.asarray(x, dtype=np.float64).ravel()) ** 2))
    if task == Task.REGRESSION:
        assert target is not None
        return float(np.mean((out - np.asarray(target, dtype=np.float64).ravel()) ** 2))
    return None


@dataclass(frozen=True)
class Score:
    """A run's figures for its task; ``value`` is the headline metric."""

    task: Task
    metric: str  # "top-1", "AUC", "PSNR": what ``value`` is
    value: float | None  # top-1 and top-k as fractions, AUC in [0, 1], PSNR in dB
    top_k: int | None = None
    top_k_accuracy: float | None = None
    auc: float | None = None
    mse: float | None = None
    psnr_db: float | None = None

    def text(self) -> str:
        """The metric as a cell: 'top-1 97.22 % (top-5 99.72 %)', 'AUC 0.931',
        'PSNR 21.4 dB (MSE 0.00721)'."""
        if self.value is None or math.isnan(self.value):
            return "-"
        if self.task == Task.ANOMALY:
            return f"AUC {self.value:.3f}"
        if self.task == Task.REGRESSION:
            return f"PSNR {self.value:.2f} dB (MSE {self.mse:.3g})"
        text = f"top-1 {100 * self.value:.2f} %"
        if self.top_k is not None and self.top_k_accuracy is not None:
            text += f" (top-{self.top_k} {100 * self.top_k_accuracy:.2f} %)"
        return text


def score_run(task: Task, labels: np.ndarray, predicted: np.ndarray, outputs: list[np.ndarray],
              scores: list[float | None], top_k: int | None = None,
              peak: float | None = None) -> Score:
    """A run's metric from its stored samples (labels, predictions, whole
    outputs, per-sample scores)."""
    if task == Task.ANOMALY:
        s = np.array([np.nan if v is None else v for v in scores], dtype=np.float64)
        auc = roc_auc(s, labels) if len(s) else None
        auc = None if auc is None or math.isnan(auc) else auc  # one class only: no AUC
        return Score(task, "AUC", auc, auc=auc,
                     mse=float(np.nanmean(s)) if len(s) else None)
    if task == Task.REGRESSION:
        s = [v for v in scores if v is not None]
        if not s:
            return Score(task, "PSNR", None)
        mse = float(np.mean(s))
        psnr = float(np.mean([psnr_db(v, peak or 1.0) for v in s]))
        return Score(task, "PSNR", psnr, mse=mse, psnr_db=psnr)
    if len(labels) == 0:
        return Score(task, "top-1", None)
    top1 = float(np.mean(labels == predicted))
    topk = None
    if top_k is not None and outputs:
        topk = top_k_accuracy(np.stack(outputs), labels, top_k)
    return Score(task, "top-1", top1, top_k=top_k, top_k_accuracy=topk)


def check_task(task: Task, dataset: str, classes: int, n_outputs: int, input_numel: int,
               target_numel: int | None, classes_known: bool = True) -> None:
    """Refuse a model whose outputs cannot be scored on the dataset's task:
    one line naming both sides."""
    if task == Task.CLASSIFICATION:
        # A .npz's classes are its largest label + 1 (a small file may lack the
        # last classes), so more outputs than that are fine, unless the model
        # reproduces its input: an autoencoder, not a classifier.
        bad = (n_outputs != classes if classes_known else
               n_outputs < classes or (n_outputs > classes and n_outputs == input_numel))
        if bad:
            hint = (" (an autoencoder? its reconstruction is scored on an anomaly dataset, "
                    "or a .npz with task='anomaly')" if n_outputs == input_numel else "")
            raise ConfigError(f"dataset {dataset} is a {classes}-class classification set but "
                              f"the model has {n_outputs} outputs{hint}")
    elif task == Task.ANOMALY:
        if n_outputs != input_numel:
            raise ConfigError(f"dataset {dataset} is scored by reconstruction error (anomaly "
                              f"detection): the model must output its {input_numel} inputs, "
                              f"it has {n_outputs} outputs")
    elif task == Task.REGRESSION:
        if target_numel != n_outputs:
            raise ConfigError(f"dataset {dataset} has targets of {target_numel} values per "
                              f"sample (regression) but the model has {n_outputs} outputs")


def check_top_k(task: Task, k: int | None, n_outputs: int) -> None:
    if k is None:
        return
    if task != Task.CLASSIFICATION:
        raise ConfigError(f"--top-k applies to classification; this dataset's task is {task}")
    if not 1 <= k <= n_outputs:
        raise ConfigError(f"--top-k must be between 1 and the model's {n_outputs} outputs, "
                          f"got {k}")
