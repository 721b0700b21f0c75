"""Task metrics (harness/metrics.py): top-k, ROC AUC, MSE/PSNR, computed from
the samples a real SQLite store keeps, and the report's metric column.
No emulator: the samples are written the way the streaming loop writes them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from sklearn.metrics import roc_auc_score

from harness.datasets import load_dataset, load_npz
from harness.errors import ConfigError
from harness.kinds import RunStatus, Task
from harness.metrics import (
    NO_CLASS,
    check_task,
    check_top_k,
    psnr_db,
    roc_auc,
    sample_score,
    top_k_accuracy,
)
from harness.store.schema import RunRecord, Sample
from harness.store.store import Store


def test_top_k_counts_the_label_among_the_k_largest() -> None:
    out = np.array([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    labels = np.array([2, 1, 0])
    assert top_k_accuracy(out, labels, 1) == 0.0
    assert top_k_accuracy(out, labels, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(out, labels, 3) == 1.0
    # ties: the first of equal outputs ranks first, as argmax picks it
    assert top_k_accuracy(np.array([[1.0, 1.0, 0.0]]), np.array([0]), 1) == 1.0
    assert top_k_accuracy(np.array([[1.0, 1.0, 0.0]]), np.array([1]), 1) == 0.0


def test_auc_equals_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(size=300) + 0.8 * labels, 1)  # rounded: many ties
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert roc_auc(np.array([1.0, 2.0]), np.array([0, 1])) == 1.0
    assert roc_auc(np.array([2.0, 1.0]), np.array([0, 1])) == 0.0
    assert np.isnan(roc_auc(np.array([1.0, 2.0]), np.array([0, 0])))


def test_psnr_and_sample_scores() -> None:
    assert psnr_db(0.01, 1.0) == pytest.approx(20.0)
    assert psnr_db(0.0, 1.0) == 100.0
    x = np.array([0.0, 1.0, 0.5], dtype=np.float32)
    out = np.array([0.1, 0.9, 0.5], dtype=np.float32)
    assert sample_score(Task.ANOMALY, out, x, None) == pytest.approx(0.02 / 3)
    assert sample_score(Task.REGRESSION, out, None, np.zeros(3)) == pytest.approx(1.07 / 3)
    assert sample_score(Task.CLASSIFICATION, out, x, None) is None


def test_task_mismatch_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^dataset digits is a 10-class classification set "
                       r"but the model has 640 outputs$"):
        check_task(Task.CLASSIFICATION, "digits", 10, 640, 64, None)
    with pytest.raises(ConfigError, match=r"an autoencoder\?"):
        check_task(Task.CLASSIFICATION, "digits", 10, 64, 64, None)
    with pytest.raises(ConfigError, match="must output its 64 inputs, it has 10 outputs"):
        check_task(Task.ANOMALY, "digits-anomaly", 0, 10, 64, None)
    with pytest.raises(ConfigError, match="targets of 64 values .* 10 outputs"):
        check_task(Task.REGRESSION, "digits-denoise", 0, 10, 64, 64)
    check_task(Task.CLASSIFICATION, "x.npz", 3, 5, 64, None, classes_known=False)
    with pytest.raises(ConfigError, match=r"10-class .* 640 outputs \(an autoencoder\?"):
        check_task(Task.CLASSIFICATION, "x.npz", 10, 640, 640, None, classes_known=False)
    with pytest.raises(ConfigError, match="3-class"):
        check_task(Task.CLASSIFICATION, "x.npz", 3, 2, 64, None, classes_known=False)
    with pytest.raises(ConfigError, match="--top-k applies to classification"):
        check_top_k(Task.ANOMALY, 5, 64)
    with pytest.raises(ConfigError, match="between 1 and the model's 10 outputs, got 11"):
        check_top_k(Task.CLASSIFICATION, 11, 10)


def _record(task: Task, **kw: object) -> RunRecord:
    return RunRecord(board="stm32l452", backend="qemu", engine="native", dtype="float32",
                     model="m.py:m", model_hash="ab" * 32, dataset=f"{task}-set",
                     dataset_hash="cd" * 32, samples_planned=0, task=task, **kw)


def _sample(i: int, label: int, output: np.ndarray, score: float | None = None) -> Sample:
    predicted = int(np.argmax(output)) if label != NO_CLASS and score is None else NO_CLASS
    return Sample(idx=i, label=label, predicted=predicted, count=100 + i, raw_count=0,
                  stack_bytes=64, max_abs_error=0.0, output=output.astype(np.float32),
                  score=score)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, dict[str, int], dict[str, object]]:
    """A store with one run per task, samples as the streaming loop writes them."""
    rng = np.random.default_rng(3)
    db = tmp_path / "m.db"
    ids: dict[str, int] = {}
    truth: dict[str, object] = {}
    with Store(db) as st:
        out = rng.normal(size=(40, 10)).astype(np.float32)
        labels = rng.integers(0, 10, 40)
        rid = st.create_run(_record(Task.CLASSIFICATION, top_k=3))
        for i in range(40):
            st.add_sample(rid, _sample(i, int(labels[i]), out[i]))
        st.finish_run(rid, RunStatus.COMPLETE)
        ids["classification"] = rid
        truth["top1"] = float(np.mean(out.argmax(1) == labels))
        truth["top3"] = float(np.mean([labels[i] in np.argsort(-out[i])[:3]
                                       for i in range(40)]))

        x = rng.random((30, 8)).astype(np.float32)
        anomalous = (np.arange(30) % 3 == 0).astype(int)
        recon = x + rng.normal(0, 0.1 + 0.04 * anomalous[:, None], x.shape).astype(np.float32)
        rid = st.create_run(_record(Task.ANOMALY))
        errors = []
        for i in range(30):
            e = sample_score(Task.ANOMALY, recon[i], x[i], None)
            errors.append(e)
            st.add_sample(rid, _sample(i, int(anomalous[i]), recon[i], e))
        st.finish_run(rid, RunStatus.COMPLETE)
        ids["anomaly"] = rid
        truth["auc"] = roc_auc_score(anomalous, errors)

        clean = rng.random((20, 16)).astype(np.float32)
        denoised = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
        rid = st.create_run(_record(Task.REGRESSION, psnr_peak=1.0))
        mses = []
        for i in range(20):
            m = sample_score(Task.REGRESSION, denoised[i], None, clean[i])
            mses.append(m)
            st.add_sample(rid, _sample(i, NO_CLASS, denoised[i], m))
        st.finish_run(rid, RunStatus.COMPLETE)
        ids["regression"] = rid
        truth["mse"] = float(np.mean((denoised.astype(np.float64) - clean) ** 2))
        truth["psnr"] = float(np.mean([10 * np.log10(1 / v) for v in mses]))
    return db, ids, truth


def test_summary_scores_each_task_from_the_store(stored: tuple) -> None:
    db, ids, truth = stored
    with Store(db) as st:
        c = st.summary(ids["classification"])
        a = st.summary(ids["anomaly"])
        r = st.summary(ids["regression"])
    assert c.metric == "top-1" and c.accuracy == pytest.approx(truth["top1"])
    assert c.top_k == 3 and c.top_k_accuracy == pytest.approx(truth["top3"])
    assert c.top_k_accuracy > c.accuracy  # top-3 really looked past the argmax
    assert c.metric_text == f"top-1 {100 * truth['top1']:.2f} % (top-3 {100 * truth['top3']:.2f} %)"
    assert a.metric == "AUC" and a.auc == pytest.approx(truth["auc"]) and a.accuracy is None
    assert 0.5 < a.auc < 1.0
    assert r.metric == "PSNR" and r.mse == pytest.approx(truth["mse"], rel=1e-6)
    assert r.psnr_db == pytest.approx(truth["psnr"], rel=1e-6) and r.accuracy is None


def test_top_k_is_recomputed_from_the_stored_outputs(stored: tuple) -> None:
    """The store keeps outputs whole: another k is a new figure, no device needed."""
    db, ids, truth = stored
    with Store(db) as st:
        st.update_run(ids["classification"], top_k=10)
        assert st.summary(ids["classification"]).top_k_accuracy == 1.0
        st.update_run(ids["classification"], top_k=1)
        assert st.summary(ids["classification"]).top_k_accuracy == pytest.approx(truth["top1"])


def test_report_has_a_metric_column_naming_the_metric(stored: tuple,
                                                      bench_main: Bench) -> None:
    db, ids, truth = stored
    p = bench_main("report", "--db", str(db))
    assert p.returncode == 0, p.stderr
    assert "| metric |" in p.stdout
    assert f"AUC {truth['auc']:.3f}" in p.stdout
    assert f"PSNR {truth['psnr']:.2f} dB" in p.stdout
    assert f"top-1 {100 * truth['top1']:.2f} % (top-3" in p.stdout
    rows = {r["run"]: r for r in csv.DictReader(io.StringIO(
        bench_main("report", "--db", str(db), "--format", "csv").stdout))}
    a, r = rows[str(ids["anomaly"])], rows[str(ids["regression"])]
    assert (a["task"], a["metric"], a["accuracy_pct"]) == ("anomaly", "AUC", "")
    assert float(a["auc"]) == pytest.approx(truth["auc"], abs=1e-6)
    assert (r["task"], r["metric"]) == ("regression", "PSNR")
    assert float(r["psnr_db"]) == pytest.approx(truth["psnr"], abs=1e-5)


def test_npz_declares_its_task(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((6, 1, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "den.npz", x=x, y=x * 0.5)
    d = load_npz(tmp_path / "den.npz")
    assert d.task == Task.REGRESSION and d.target_shape == (1, 4, 4) and d.peak == 1.0
    np.savez(tmp_path / "ad.npz", x=x, y=np.array([0, 1, 0, 0, 1, 0]), task="anomaly")
    assert load_npz(tmp_path / "ad.npz").task == Task.ANOMALY
    np.savez(tmp_path / "bad.npz", x=x, y=np.arange(6), task="ranking")
    with pytest.raises(ConfigError, match="task 'ranking' is not one of"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "bad2.npz", x=x, y=np.arange(6), task="anomaly")
    with pytest.raises(ConfigError, match="anomaly labels y must be 0"):
        load_npz(tmp_path / "bad2.npz")


def test_made_up_digit_tasks() -> None:
    anomaly, train = load_dataset("digits-anomaly"), load_dataset("digits-anomaly:train")
    assert anomaly.task == Task.ANOMALY and anomaly.sample_shape == (64,)
    assert anomaly.y.sum() == 35 and len(anomaly) == 360  # the 8s of the digits test split
    assert train.y.sum() == 0 and len(train) == 1298  # no 8 to learn from
    den = load_dataset("digits-denoise")
    assert den.task == Task.REGRESSION and den.target_shape == (1, 8, 8) == den.sample_shape
    assert np.array_equal(den.y, load_dataset("digits").x)  # the clean images
    noisy_psnr = np.mean([psnr_db(float(np.mean((den.x[i] - den.y[i]) ** 2)), 1.0)
                          for i in range(len(den))])
    assert 11.5 < noisy_psnr < 12.5
    assert np.array_equal(load_dataset("digits-denoise").x, den.x)  # seeded
