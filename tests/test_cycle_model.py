"""The QEMU plugin's Cortex-M4 cycle estimate (timing model "cortex-m4 v1",
firmware/qemu-plugin/cm4_timing.h) against cycle totals counted by hand
from the Cortex-M4 TRM's tables, on tiny Thumb-2 snippets run in real QEMU
(mps2-an386); its storage beside the instruction counts; the mps2-an386
board; and `bench fidelity`.

Real host gcc (the plugin), real arm-none-eabi-gcc, real QEMU and SQLite.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench

from harness.backends.qemu_plugin import build_plugin, find_markers
from harness.store.schema import RunRecord, Sample
from harness.store.store import Store

needs_tools = [
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None,
                       reason="qemu-system-arm not installed (make setup)"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                       reason="arm-none-eabi-gcc not installed (make setup)"),
    pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                       reason="no host C compiler for the QEMU plugin"),
]
MODEL = "cortex-m4 v1"

# The region the plugin measures runs from bench_mark_start's first
# instruction to bench_mark_stop's: it holds start's `bx lr` (1 + P = 3) and
# the `bl bench_mark_stop` (1 + P = 3), 2 instructions and 6 cycles around
# every snippet (P = 2 in the model).
AROUND_INSNS, AROUND_CYCLES = 2, 6

HEAD = """\
    .syntax unified
    .thumb
    .section .isr_vector, "a"
    .word 0x20010000
    .word reset
    .text
    .thumb_func
reset:
    ldr r0, =0xE000ED88          @ CPACR: enable the FPU
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
    movs r0, #100
    movs r1, #7
    ldr r2, =buf
    bl bench_mark_start
"""
TAIL = """\
    bl bench_mark_stop
    movs r0, #0x18               @ semihosting SYS_EXIT
    ldr r1, =0x20026
    bkpt 0xab
    .thumb_func
    .global bench_mark_start
bench_mark_start:
    bx lr
    .thumb_func
    .global bench_mark_stop
bench_mark_stop:
    bx lr
{extra}
    .ltorg
    .data
    .align 2
buf: .word 4, 8, 12, 16, 0x40800000, 0x40000000, 0x41100000
"""
LINKER = """\
MEMORY { CODE (rx) : ORIGIN = 0, LENGTH = 4M  RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 64K }
SECTIONS { .text : { KEEP(*(.isr_vector)) *(.text*) } > CODE
           .data : { *(.data*) } > RAM AT > CODE }
"""

# Each snippet with its hand count: (instructions, cycles) inside the region
# besides AROUND_*, every line's cycles from the TRM tables as the model
# states them (cm4_timing.h).
SNIPPETS = {
    "straight": ("""\
    ldr r3, [r2]                 @ 2  load
    ldr r4, [r2, #4]             @ 1  pipelined after a load it does not depend on
    str r3, [r2, #8]             @ 1  store, immediate offset: always one cycle
    add r5, r3, r4               @ 1
    udiv r6, r0, r1              @ 4  100 / 7: 5 quotient bits, 2 + (5 + 3) / 4
    vmov s0, r0                  @ 1
    vmla.f32 s1, s0, s0          @ 3
""", "", 7, 13),
    "loop": ("""\
    movs r7, #4                  @ 1
1:  subs r7, #1                  @ 4 x 1
    bne 1b                       @ 3 taken x 3 + 1 not taken
""", "", 9, 15),
    "memory_and_fpu": ("""\
    push {r4-r7, lr}             @ 1 + 5
    ldmia r2, {r3, r4}           @ 1 + 2
    ldr r5, [r2]                 @ 2  after an LDM: not pipelined
    ldr r6, [r2, r5]             @ 2  its address uses the load before: not pipelined
    ldr r7, [r2, #8]             @ 1  pipelined
    str r7, [r2, r3]             @ 1  register-offset store after a load: pipelined
    str r6, [r2, r3]             @ 2  nothing pipelines after a store
    movs r4, #0                  @ 1
    subs r4, r4, r0              @ 1  r4 = -100
    sdiv r5, r4, r1              @ 4  |-100| / 7
    udiv r5, r1, r0              @ 2  7 / 100: quotient 0
    vldr s0, [r2]                @ 2
    vldmia r2, {s1-s3}           @ 1 + 3
    vdiv.f32 s4, s1, s2          @ 14
    vsqrt.f32 s5, s3             @ 14
    vadd.f32 s6, s4, s5          @ 1
    vfma.f32 s6, s4, s5          @ 3
    pop {r4-r7, lr}              @ 1 + 5
""", "", 18, 69),
    "address_stall": ("""\
    adds r3, r2, #4              @ 1
    ldr r4, [r3]                 @ 2 + 1  its address is the ALU result just made
    ldr r5, [r3, #4]             @ 1  pipelined, no ALU result in its address
    add r6, r2, #8               @ 1  (32-bit)
    str r5, [r6]                 @ 1 + 1
    mov r7, r2                   @ 1
    ldr r0, [r7, #12]            @ 2 + 1
    add sp, #-8                  @ 1
    push {r0}                    @ 1 + 1 + 1  SP just written
    pop {r0}                     @ 1 + 1
    add sp, #8                   @ 1
""", "", 11, 19),
    "conditional": ("""\
    movs r3, #0                  @ 1
    cbz r3, 1f                   @ 3  taken
    nop
1:  cbnz r3, 2f                  @ 1  not taken
    nop                          @ 1
2:  cmp r3, #0                   @ 1
    it eq                        @ 1
    moveq r3, #5                 @ 1
    bl sub                       @ 3  (sub: 1 + 1 + 1 + 1 + 1 + 3)
    b 3f                         @ 3
    nop
3:
""", """\
    .thumb_func
sub:
    cmp r3, #4
    it eq
    bxeq lr                      @ not taken under IT: 1
    cmp r3, #5
    it eq
    bxeq lr                      @ taken under IT: 3
    bx lr
""", 15, 23),
}


def run_snippet(tmp_path: Path, body: str, extra: str) -> tuple[str, int, int]:
    """Assemble ``body`` into a bare mps2-an386 image, run it under QEMU with
    the plugin; (ready line, instructions, estimated cycles)."""
    src, ld, elf = tmp_path / "t.S", tmp_path / "t.ld", tmp_path / "t.elf"
    src.write_text(HEAD + body + TAIL.format(extra=extra))
    ld.write_text(LINKER)
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16",
                    "-mfloat-abi=hard", "-nostdlib", "-Wl,-e,reset", "-T", str(ld), "-o",
                    str(elf), str(src)], check=True, capture_output=True, text=True)
    so = build_plugin(tmp_path / "plugin")
    marks = find_markers(elf)
    out = tmp_path / "counts"
    subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-display", "none", "-monitor",
                    "none", "-serial", "null", "-icount", "shift=0,align=off,sleep=on",
                    "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
                    "-plugin", ",".join([f"file={so}", f"out={out}", *marks.plugin_args()])],
                   check=True, capture_output=True, timeout=30)
    lines = out.read_text().splitlines()
    c = next(ln for ln in lines if ln.startswith("C ")).split()
    r = next(ln for ln in lines if ln.startswith("R ")).split()
    return lines[0], int(r[2]), int(c[2])


def needs_emulator(test: Callable) -> Callable:
    for mark in (pytest.mark.emulator, *needs_tools):
        test = mark(test)
    return test


@needs_emulator
@pytest.mark.parametrize("name", list(SNIPPETS))
def test_estimate_matches_the_hand_count(tmp_path: Path, name: str) -> None:
    body, extra, insns, cycles = SNIPPETS[name]
    ready, got_insns, got_cycles = run_snippet(tmp_path, body, extra)
    assert ready == f"# bench_insn 2 timing={MODEL}"
    assert got_insns == insns + AROUND_INSNS
    assert got_cycles == cycles + AROUND_CYCLES


# -- storage ----------------------------------------------------------------------------

def _record(**kw: object) -> RunRecord:
    base = dict(board="stm32l452", backend="qemu", engine="native", dtype="int8",
                model="m.py:f", model_hash="h" * 64, dataset="d.npz", dataset_hash="d",
                samples_planned=3, clock_hz=80_000_000, quant_scheme="pot")
    return RunRecord(**{**base, **kw})  # type: ignore[arg-type]


def _sample(idx: int, count: int, layers: tuple[int, ...] = (), est: int | None = None,
            layer_cycles: tuple[int, ...] = ()) -> Sample:
    return Sample(idx=idx, label=0, predicted=0, count=count, raw_count=count, stack_bytes=0,
                  max_abs_error=0.0, output=np.zeros(2, np.float32), layers=layers,
                  estimated_cycles=est, layer_cycles=layer_cycles)


def test_an_older_database_gains_the_estimate_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with Store(db) as store:
        run_id = store.create_run(_record(count_kind="instructions"))
        store.add_sample(run_id, _sample(0, 1000, (600, 400)))
    con = sqlite3.connect(db)  # as the schema was before the estimate existed
    for table, col in (("runs", "timing_model"), ("samples", "estimated_cycles"),
                       ("layer_counts", "estimated_cycles")):
        con.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
    con.commit()
    con.close()
    with Store(db) as store:
        assert store.samples(run_id)[0].count == 1000
        assert store.layer_counts(run_id) == {0: [600, 400]}
        assert store.summary(run_id).estimated_cycles_per_inference is None
        store.add_sample(run_id, _sample(1, 1010, (610, 400), 1500, (900, 600)))
        assert store.layer_cycles(run_id) == {1: [900, 600]}
        assert store.summary(run_id).estimated_cycles_per_inference == 1500


# -- bench fidelity ----------------------------------------------------------------------

def _fidelity_runs(db: Path, scale: float) -> tuple[int, int]:
    """An emulator run with estimates and a board run (count kind cycles, as
    real-board runs are stored) whose cycles are the estimate / scale."""
    with Store(db) as store:
        emu = store.create_run(_record(count_kind="instructions", timer_kind="tcg_plugin",
                                       timing_model=MODEL, per_layer=1))
        board = store.create_run(_record(backend="probe", count_kind="cycles",
                                         timer_kind="dwt_cycles", per_layer=1))
        for i in range(3):
            est = (7000 + 10 * i, 3000)
            store.add_sample(emu, _sample(i, 6000, (4000, 2000), sum(est), est))
            meas = tuple(round(c / scale) for c in est)
            store.add_sample(board, _sample(i, sum(meas), meas))
    return board, emu


def test_fidelity_prints_per_layer_and_per_inference_error(bench_main: Bench,
                                                          tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    board, emu = _fidelity_runs(db, scale=1.25)
    p = bench_main("fidelity", str(board), str(emu), "--db", str(db), "--json")
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    assert f["timing_model"] == MODEL and f["samples"] == 3
    assert f["estimated"] == 10010 and f["measured"] == 8008
    assert f["error"] == pytest.approx(0.25, abs=1e-3)
    assert f["within_target"] is False
    assert [round(la["error"], 3) for la in f["layers"]] == [0.25, 0.25]
    p = bench_main("fidelity", str(board), str(emu), "--db", str(db))
    assert p.returncode == 0, p.stderr
    assert "+25.0 %" in p.stdout and "outside the 15 % target" in p.stdout


@pytest.mark.parametrize("case", ["swapped", "other-model", "no-estimate"])
def test_fidelity_refuses_runs_it_cannot_compare(bench_main: Bench, tmp_path: Path,
                                                 case: str) -> None:
    db = tmp_path / "r.db"
    board, emu = _fidelity_runs(db, scale=1.0)
    with Store(db) as store:
        if case == "other-model":
            store.update_run(emu, model_hash="x" * 64)
        if case == "no-estimate":
            store.update_run(emu, timing_model=None)
    args = (emu, board) if case == "swapped" else (board, emu)
    p = bench_main("fidelity", *map(str, args), "--db", str(db))
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("bench: error: ")
    assert {"swapped": "not measured cycles", "other-model": "model_hash",
            "no-estimate": "no cycle estimate"}[case] in lines[0]
    with Store(db) as store:  # nothing lost
        assert len(store.samples(board)) == 3 and len(store.samples(emu)) == 3


# -- real runs: the estimate stored, the compute-only board ------------------------------

@needs_emulator
def test_a_run_on_mps2_an386_stores_estimates_and_says_compute_only(
        bench_main: Bench, tiny_model: str, tiny_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    p = bench_main("run", "--board", "mps2-an386", "--model", tiny_model, "--dataset",
                   str(tiny_data), "--limit", "3", "--per-layer", "--json", "--db", str(db))
    assert p.returncode == 0, p.stderr
    run_id = json.loads(p.stdout)["run_id"]
    with Store(db) as store:
        row = store.run_row(run_id)
        samples = store.samples(run_id)
        layers, cycles = store.layer_counts(run_id), store.layer_cycles(run_id)
        s = store.summary(run_id)
    assert row["timing_model"] == MODEL and row["clock_hz"] == 25_000_000
    for x in samples:
        # every instruction costs at least one cycle; loads, branches and FPU more
        assert x.estimated_cycles is not None and x.estimated_cycles > x.count
        # outside the layers: the calls around them, a few branches (3 cycles each)
        assert 0 <= x.estimated_cycles - sum(cycles[x.idx]) <= 8 * len(cycles[x.idx])
        assert all(c >= n for c, n in zip(cycles[x.idx], layers[x.idx], strict=True))
    assert s.estimated_cycles_per_inference is not None
    p = bench_main("report", "--db", str(db))
    assert p.returncode == 0, p.stderr
    assert "compute-only, not an STM32" in p.stdout
    assert f"estimated (timing model {MODEL})" in p.stdout


@pytest.mark.parametrize(("outputs", "says"), [
    (5_000, "it may fit --board mps2-an386 (compute-only, not an STM32)"),
    (140_000, "it fits no emulated board either: the largest, mps2-an386, misses flash by"),
])
def test_a_model_too_big_for_the_stm32_names_the_emulated_board_it_may_fit(
        outputs: int, says: str) -> None:
    from torch import nn

    from harness.backends import get_board
    from harness.build.fit import check_fits
    from harness.errors import BuildError
    from harness.kinds import DType
    from harness.model.load import import_model
    from harness.model.snn_options import SnnOptions

    m = nn.Sequential(nn.Flatten(), nn.Linear(96, outputs))
    with pytest.raises(BuildError) as e:
        check_fits(get_board("stm32l452"), import_model(m, (3, 32), SnnOptions()), DType.FLOAT32)
    assert "does not fit stm32l452" in str(e.value) and says in str(e.value)


@needs_emulator
def test_fidelity_of_a_real_qemu_run_against_a_stored_board_run(
        bench_main: Bench, tiny_model: str, tiny_data: Path, tmp_path: Path) -> None:
    """The emulator run is real (QEMU, per layer); the board run is stored the
    way a real board's run is (count kind cycles, DWT), 10 % slower than the
    estimate in every layer: fidelity must find -9.1 %, per layer too."""
    from harness.run.execute import run
    from harness.run.request import RunRequest
    from harness.store.schema import RUN_FIELDS

    db = tmp_path / "r.db"
    emu = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=3,
                         per_layer=True), db).run_id
    with Store(db) as store:
        row = store.run_row(emu)
        record = RunRecord(**{**{k: row[k] for k in RUN_FIELDS}, "backend": "probe",
                              "count_kind": "cycles", "timer_kind": "dwt_cycles",
                              "timing_model": None})
        board = store.create_run(record)
        cycles = store.layer_cycles(emu)
        for s in store.samples(emu):
            assert s.estimated_cycles is not None
            store.add_sample(board, _sample(s.idx, round(s.estimated_cycles * 1.1),
                                            tuple(round(c * 1.1) for c in cycles[s.idx])))
    p = bench_main("fidelity", str(board), str(emu), "--db", str(db), "--json")
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    assert f["samples"] == 3 and f["within_target"] is True
    assert f["error"] == pytest.approx(1 / 1.1 - 1, abs=1e-3)
    assert [la["op"] for la in f["layers"]] == ["conv1d", "global_avgpool", "linear"]
    for la in f["layers"]:
        assert la["error"] == pytest.approx(1 / 1.1 - 1, abs=5e-3)


@needs_emulator
def test_an_input_larger_than_a_frame_is_one_error_line(bench_main: Bench,
                                                        tmp_path: Path) -> None:
    """mps2-an386 builds models whose float32 input (here 65,536 bytes) no
    frame of the device protocol carries (16-bit length): refused before
    the run, in one line, nothing stored."""
    model = tmp_path / "big_input.py"
    model.write_text("from torch import nn\n\ndef net():\n"
                     "    m = nn.Sequential(nn.Conv2d(1, 1, 8, stride=8), nn.Flatten(),\n"
                     "                      nn.Linear(256, 2))\n"
                     "    m.input_shape = (1, 128, 128)\n    return m\n")
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((2, 1, 128, 128), np.float32), y=np.array([0, 1]))
    db = tmp_path / "r.db"
    p = bench_main("run", "--board", "mps2-an386", "--model", f"{model}:net", "--dataset",
                   str(data), "--db", str(db))
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert "65,536 bytes" in lines[0] and "at most 65,535" in lines[0]
    if db.exists():
        with Store(db) as store:
            assert store.run_ids() == []
