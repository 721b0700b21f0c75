"""bench report with spiking runs: a store holding a spiking run (its record
made by the run pipeline's own ``spiking_fields``, its samples written with
the Store API) beside a conventional one. The SNN table, CSV columns and
plots show what the store's summary says; conventional groups are left as
they were."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from snn_graphs import mlp

from harness.report.compare import compare
from harness.report.csv_table import COLUMNS
from harness.report.plots import group_plots, spike_rates_png, spikes_png
from harness.report.render import render
from harness.report.snn import SNN_COLUMNS
from harness.run.record import spiking_fields
from harness.store.schema import RunRecord, Sample
from harness.store.store import Store

PNG = b"\x89PNG\r\n\x1a\n"


def record(model: str, **extra: object) -> RunRecord:
    return RunRecord(board="stm32l452", backend="qemu", engine="native", dtype="float32",
                     model=model, model_hash=model, dataset="digits", dataset_hash="d",
                     samples_planned=3, count_kind="instructions", clock_hz=80_000_000,
                     **extra)


def sample(idx: int, label: int, predicted: int, spikes: tuple[int, ...] = ()) -> Sample:
    return Sample(idx=idx, label=label, predicted=predicted, count=1000 + idx, raw_count=0,
                  stack_bytes=100, max_abs_error=0.0, output=np.zeros(3, np.float32),
                  spikes=spikes)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Run 1: conventional. Run 2: the mlp SNN (T=5), spikes (s0, s1) per
    sample (9, 1), (11, 3), (10, 2): means 10 and 2, accuracy 2/3.
    Run 3: the same SNN fed fewer spikes (T=5): (4, 1) x 3, accuracy 1/3."""
    path = tmp_path / "r.db"
    fields = spiking_fields(mlp())
    with Store(path) as st:
        conv_id = st.create_run(record("cnn.py:net"))
        for i in range(3):
            st.add_sample(conv_id, sample(i, i, i))
        snn_id = st.create_run(record("snn.py:mlp", **fields))
        for i, (spikes, pred) in enumerate((((9, 1), 0), ((11, 3), 1), ((10, 2), 0))):
            st.add_sample(snn_id, sample(i, i, pred, spikes))
        sparse_id = st.create_run(record("snn.py:mlp", **fields))
        for i, pred in enumerate((0, 0, 0)):
            st.add_sample(sparse_id, sample(i, i, pred, (4, 1)))
        for run_id in (conv_id, snn_id, sparse_id):
            st.finish_run(run_id, "complete")
    return path


def test_summary_recomputes_activity_and_energy_from_stored_counts(db: Path) -> None:
    with Store(db) as st:
        conventional, snn = st.summary(1), st.summary(2)
    assert conventional.activity is None and conventional.energy_models is None
    a = snn.activity
    assert a is not None and snn.energy_models is not None
    assert snn.spikes_per_inference == 12
    assert a.Effective_ACs == pytest.approx(10 * 11 / 4)
    assert a.ActivationSparsity == pytest.approx(1 - 12 / 35)
    assert [e.model for e in snn.energy_models] == ["lemaire2022", "ac_mac"]
    assert snn.energy_models[1].snn_uj == pytest.approx((0.9 * 27.5 + 4.6 * 80) * 1e-6)
    as_json = snn.as_dict()  # what bench run --json prints
    assert as_json["activity"]["Dense"] == 140
    assert as_json["energy_models"][0]["kind"] == "estimate"


def test_markdown_has_the_snn_table_only_for_spiking_groups(db: Path, tmp_path: Path) -> None:
    with Store(db) as st:
        c = compare(st.summaries())
    out = tmp_path / "r.md"
    text = render(c, "md", out)
    conv_part, snn_part = text.split("## `snn.py:mlp`")
    assert "Spiking runs" not in conv_part.split("Counts on QEMU")[0]
    assert "| T |" not in conv_part
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in snn_part.splitlines()
            if line.startswith("| 2 | native / float32 | 5 |")
            or line.startswith("| 3 | native / float32 | 5 |")}
    # run, engine/dtype, T, accuracy, spikes, rate %, sparsity, ACs, MACs, Dense, updates
    assert rows["2"][:11] == ["2", "native / float32", "5", "66.67", "12.0",
                              f"{100 * 12 / 35:.2f}", f"{1 - 12 / 35:.4f}", "28", "80", "140",
                              "35"]
    assert rows["3"][4] == "5.0"
    assert "Lemaire et al. ICONIP 2022" in text and "never measured" in text
    for name in ("g2-spikes", "g2-spike-rates"):
        assert (tmp_path / f"r-{name}.png").read_bytes().startswith(PNG)
    assert not (tmp_path / "r-g1-spikes.png").exists()  # the conventional group has none


def test_csv_adds_snn_columns_only_with_spiking_runs(db: Path) -> None:
    with Store(db) as st:
        summaries = st.summaries()
    rows = list(csv.DictReader(io.StringIO(render(compare(summaries), "csv"))))
    assert list(rows[0]) == [*COLUMNS, *SNN_COLUMNS]
    conv, snn = rows[0], rows[1]
    assert all(conv[c] == "" for c in SNN_COLUMNS)
    assert (snn["timesteps"], float(snn["effective_acs"]), int(snn["dense_synops"])) == (
        "5", 27.5, 140)
    assert float(snn["energy_ac_mac_snn_uj"]) == pytest.approx((0.9 * 27.5 + 4.6 * 80) * 1e-6)
    only_conv = render(compare([summaries[0]]), "csv")
    assert only_conv.splitlines()[0] == ",".join(COLUMNS)  # conventional reports unchanged


def test_html_and_latex_carry_the_snn_table(db: Path) -> None:
    with Store(db) as st:
        c = compare(st.summaries())
    page = render(c, "html")
    assert page.count("data:image/png;base64,") == len([p for ps in group_plots(c).values()
                                                         for p in ps])
    assert "ActivationSparsity" in page and "Lemaire 2022, 45 nm: estimate" in page
    assert "ActivationSparsity" in render(c, "latex")


def test_plots_need_spiking_runs(db: Path) -> None:
    with Store(db) as st:
        c = compare(st.summaries())
    conv, snn = c.groups
    assert spikes_png(conv) is None and spike_rates_png(conv) is None
    png = spikes_png(snn)
    assert png is not None and png.startswith(PNG)
    # a run without spike figures draws nothing
    bare = replace(snn, rows=tuple(replace(r, s=replace(r.s, spikes_per_inference=None,
                                                        spike_rates=None)) for r in snn.rows))
    assert spikes_png(bare) is None and spike_rates_png(bare) is None


def test_run_summary_puts_the_models_beside_the_boards_energy(db: Path) -> None:
    from harness.commands.show import summary_rows

    with Store(db) as st:
        conventional, snn = st.summary(1), st.summary(2)
    rows = dict(summary_rows(snn))
    assert rows["ActivationSparsity"].startswith(f"{1 - 12 / 35:.4f}")
    assert rows["SynOps per layer"] == "fc0: 80 MACs; fc1: 28 ACs"
    assert rows["MembraneUpdates"].startswith("35 ")
    lemaire = rows["energy model (Lemaire 2022, 45 nm)"]
    assert "estimate" in lemaire and f"SNN {snn.energy_models[0].snn_uj:,.4g} uJ" in lemaire
    assert not any(k.startswith("energy model") or k == "ActivationSparsity"
                   for k, _ in summary_rows(conventional))
