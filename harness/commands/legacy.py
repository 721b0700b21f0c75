"""What each bench command does; harness/cli.py only parses arguments."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from harness.backends import BACKENDS, get_backend
from harness.boards import all_boards, get_board
from harness.build.build import Firmware
from harness.errors import BenchError, ConfigError
from harness.paths import BUILD, RESULTS
from harness.report import compare as report
from harness.run.runner import (
    HOST_BACKEND,
    MeterFailed,
    QuantRequest,
    RunRequest,
    Target,
    build_for,
    execute,
    load_graph,
    prepare,
    quant_for,
    resolve_board_backend,
    run,
)
from harness.store.store import RunSummary, Store

out = Console()
err = Console(stderr=True)


def _kb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:.1f} KB"


def cmd_boards(args: argparse.Namespace) -> int:
    table = Table(title="boards")
    for col in ("board", "part", "core", "clock", "flash / RAM", "backends"):
        table.add_column(col)
    for b in all_boards().values():
        states = []
        for name in b.backends:
            if name in BACKENDS:
                ok, why = get_backend(name).available()
                states.append(f"{name} ({'available' if ok else 'missing: ' + why})")
            else:
                states.append(f"{name} (not built yet)")
        table.add_row(b.name, b.part, b.core, f"{b.clock_hz / 1e6:g} MHz",
                      f"{b.rom_bytes // 1024} KB / {b.ram_bytes // 1024} KB", "\n".join(states))
    out.print(table)
    return 0


def _memory_table(fw: Firmware) -> Table:
    scheme = f" ({fw.quant_scheme})" if fw.quant_scheme else ""
    t = Table(title=f"{fw.board} / {fw.engine} / {fw.dtype}{scheme}")
    t.add_column("what")
    t.add_column("bytes", justify="right")
    board = get_board(fw.board)
    m = fw.memory
    t.add_row("ROM (flash)", f"{m.rom_bytes:,}  ({100 * m.rom_bytes / board.rom_bytes:.1f}% of "
              f"{board.rom_bytes // 1024} KB)")
    t.add_row("RAM (.data + .bss)", f"{m.ram_bytes:,}")
    t.add_row("  of which activation arena", f"{fw.arena_bytes:,}")
    for part in ("model", "kernels", "runtime", "libc"):
        if part in m.components:
            c = m.components[part]
            t.add_row(f"  {part}: ROM / RAM", f"{c['rom']:,} / {c['ram']:,}")
    t.add_row("stack reserved", f"{m.stack_reserved_bytes:,}")
    t.add_row("input / output per inference", f"{fw.input_bytes:,} / {fw.output_bytes:,}")
    return t


def _quant_request(args: argparse.Namespace) -> QuantRequest:
    return QuantRequest(scheme=args.quant, samples=args.calibrate,
                        method=args.calibration_method, data=args.calibration_data,
                        ranges=args.ranges, weights=args.weight_layout)


def cmd_build(args: argparse.Namespace) -> int:
    board = get_board(args.board)
    graph = load_graph(args.model)
    backend_name = args.backend or board.backends[0]
    # A backend not built into this bench still runs the firmware's UART link.
    link = args.link or (get_backend(backend_name).link if backend_name in BACKENDS
                         or args.backend else "uart")
    quant, _record = quant_for(graph, args.engine, args.dtype, args.dataset,
                               _quant_request(args))
    fw = build_for(board, graph, args.engine, args.dtype, link, args.output, quant=quant)
    if args.json:
        print(json.dumps(fw.manifest(), default=str))
    else:
        out.print(_memory_table(fw))
        out.print(f"firmware: {fw.elf}")
    return 0


def _newest_build(board: str, link: str = "") -> Path:
    pattern = f"{board}-{link}-*" if link else f"{board}-*"
    builds = sorted((p.parent for p in BUILD.glob(f"{pattern}/firmware.elf")),
                    key=lambda p: p.stat().st_mtime)
    if not builds:
        backend = " --backend probe" if link == "uart" else ""
        raise ConfigError(f"no firmware built for {board}{' (uart link)' if link else ''} yet: "
                          f"run 'bench build --board {board}{backend} --model ...' or pass "
                          f"--firmware")
    return builds[-1]


def cmd_flash(args: argparse.Namespace) -> int:
    from harness.flash.flow import default_backend, flash_board

    name = args.backend or default_backend(get_board(args.board))
    if name != "qemu":
        board = get_board(args.board)
        path = args.firmware or _newest_build(board.name, link="uart")
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.percentage:>3.0f}%"), console=err,
                      disable=not err.is_terminal) as bar:
            task = bar.add_task(f"flashing {board.name} ({name})", total=1.0)
            done = flash_board(board, name, path, probe=args.probe, port=args.port,
                               boot_entry=args.boot_entry, handshake_s=args.timeout,
                               progress=lambda f: bar.update(task, completed=f))
        info = done.info
        out.print(f"[green]flashed[/] {done.elf} on {board.name}: {done.detail}")
        out.print(f"handshake ok on {done.port} at {board.baud} baud: protocol "
                  f"{info.protocol_version}, build {info.build_id}, engine {info.engine}, "
                  f"{info.input_dtype}, {info.clock_hz / 1e6:g} MHz, timer {info.timer_kind}")
        return 0
    if args.probe or args.port or args.boot_entry:
        raise ConfigError("--probe, --port and --boot-entry apply to real boards, not qemu")
    board, backend = resolve_board_backend(args.board, name)
    path = args.firmware or _newest_build(board.name)
    if not path.exists():
        raise ConfigError(f"firmware {path} does not exist")
    fw = Firmware.load(path)
    if fw.board != board.name:
        raise ConfigError(f"{path} was built for {fw.board}, not {board.name}")
    with Target(backend, board, fw) as target:
        info = target.start()
        assert target.session is not None
        out.print(f"[green]loaded[/] {fw.elf} on {board.name} ({backend.name}); handshake ok: "
                  f"protocol {info.protocol_version}, build {info.build_id}, engine "
                  f"{info.engine}, {info.input_dtype}, {info.clock_hz / 1e6:g} MHz, timer "
                  f"{info.timer_kind}")
        if args.keep:
            target.link.close()  # type: ignore[union-attr]
            target.link = None
            out.print(f"link: {target.session.url}  (Ctrl-C stops the emulator)")
            while target.session.alive():
                time.sleep(0.5)
    return 0


EMULATOR_NAMES = {"qemu": "QEMU", "renode": "Renode"}


def _summary_rows(s: RunSummary) -> list[tuple[str, str]]:
    count = "-" if s.count_per_inference is None else f"{s.count_per_inference:,} {s.count_kind}"
    if s.count_min is not None and s.count_min != s.count_max:
        count += f" (min {s.count_min:,}, max {s.count_max:,})"
    rows = [
        ("run", f"{s.run_id} ({s.status})"),
        ("board / backend", f"{s.board} / {s.backend}"),
        ("engine / dtype", f"{s.engine} / {s.dtype}"
         + (f" ({s.quant_scheme} quantization)" if s.quant_scheme else "")),
        ("samples", f"{s.samples} of {s.samples_planned}"),
        ("accuracy", "-" if s.accuracy is None else f"{100 * s.accuracy:.2f} %"),
        ("per inference", count),
    ]
    if s.count_kind == "instructions" and s.count_per_inference and s.clock_hz:
        rows.append(("latency estimate", f"{report.latency_estimate_us(s):,.0f} us at CPI 1, "
                     f"{s.clock_hz / 1e6:g} MHz (estimate: "
                     f"{EMULATOR_NAMES.get(s.backend, s.backend)} has no cycle model)"))
    elif s.count_kind == "cycles" and s.count_per_inference and s.clock_hz:
        rows.append(("latency", f"{report.latency_estimate_us(s):,.0f} us at "
                     f"{s.clock_hz / 1e6:g} MHz (measured cycles)"))
    rows += [
        ("ROM", _kb(s.rom_bytes)),
        ("RAM (static)", f"{_kb(s.ram_bytes)} (arena {_kb(s.arena_bytes)})"),
        ("stack (measured)", _kb(s.stack_bytes)),
        (f"max |{'output' if s.backend == HOST_BACKEND else 'device'} - "
         f"{report.reference_name(s)}|", "-" if s.max_abs_error is None
         else f"{s.max_abs_error:.2e}"),
    ]
    if s.energy_uj is not None:
        spread = ("" if s.energy_min_uj == s.energy_max_uj else
                  f" (min {s.energy_min_uj:,.3f}, max {s.energy_max_uj:,.3f})")
        rows.append((f"energy ({s.energy_kind})", f"{s.energy_uj:,.3f} uJ per inference"
                     f"{spread}"))
        if s.energy_basis:
            rows.append(("energy basis", s.energy_basis))
    if s.trace_file:
        rows.append(("power trace", s.trace_file))
    return rows


def print_summary(s: RunSummary) -> None:
    t = Table(show_header=False, title=f"{s.model} on {s.dataset}")
    t.add_column(style="bold")
    t.add_column()
    for k, v in _summary_rows(s):
        t.add_row(k, v)
    out.print(t)


def cmd_run(args: argparse.Namespace) -> int:
    req = RunRequest(board=args.board, backend=args.backend, model=args.model,
                     dataset=args.dataset, engine=args.engine, dtype=args.dtype,
                     limit=args.limit, resume=args.resume, per_layer=args.per_layer,
                     quant=_quant_request(args), meter=args.meter, meter_rate=args.meter_rate,
                     meter_duration=args.meter_duration)
    try:
        summary = run(req, args.db) if args.json else _run_with_progress(req, args.db)
    except MeterFailed as e:
        # The run is stored: show it, then the meter's one error line.
        if args.json:
            print(json.dumps(e.summary.as_dict()))
        else:
            print_summary(e.summary)
        raise
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        print_summary(summary)
    return 0


def _run_with_progress(req: RunRequest, db: Path) -> RunSummary:
    with err.status("checking inputs and building firmware ..."):
        prepared = prepare(req)
    if prepared.note:
        err.print(f"bench: note: {prepared.note}", soft_wrap=True)
    cal = prepared.calibration
    if cal and cal.get("dataset") == req.dataset and req.quant.ranges is None:
        err.print(f"bench: note: calibrated on the first {cal['samples']} samples of "
                  f"{req.dataset} itself (it has no -train split); pass --calibration-data "
                  f"to keep calibration and test data apart", soft_wrap=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task(f"{req.board}/{req.backend}", total=prepared.n, rate="")
        started = time.monotonic()
        first: list[int] = []

        def progress(done: int, total: int) -> None:
            if not first:
                first.append(done)
            elapsed = time.monotonic() - started
            rate = (done - first[0]) / elapsed if elapsed > 0 else 0.0
            bar.update(task, completed=done, total=total, rate=f"{rate:.1f} samples/s")

        return execute(prepared, db, progress=progress)


def cmd_profile(args: argparse.Namespace) -> int:
    from harness.profile import profile_run

    if args.json:
        print(json.dumps(profile_run(args.run_id, args.db, args.samples).as_dict()))
        return 0
    with err.status(f"profiling run {args.run_id} ..."):
        p = profile_run(args.run_id, args.db, args.samples)
    where = ("stored per-layer counts" if p.source == "stored" else
             "measured now: the run itself has no per-layer counts")
    header = ("#", "layer", "op", "MACs", "instructions", "% of total", "MACs/instr")
    rows = [(str(la.index), la.name, la.op, f"{la.macs:,}", f"{la.instructions:,}",
             f"{la.percent:.1f}", "-" if la.macs_per_instruction is None
             else f"{la.macs_per_instruction:.3f}") for la in p.layers]
    macs = sum(la.macs for la in p.layers)
    rows.append(("", "(outside layers)", "", "", f"{p.outside_layers:,}",
                 f"{100 * p.outside_layers / p.total:.1f}" if p.total else "-", ""))
    rows.append(("", "total", "", f"{macs:,}", f"{p.total:,}", "100.0",
                 f"{macs / p.total:.3f}" if p.total else "-"))
    t = Table(title=f"run {p.run_id}: instructions per layer, median of {p.samples} samples",
              caption=f"{where}; firmware {p.firmware_dir}")
    for i, col in enumerate(header):
        t.add_column(col, justify="left" if i in (1, 2) else "right", no_wrap=True)
    for row in rows:
        t.add_row(*row)
    # Never cut a layer name: wider than a pipe's default 80 columns if need be.
    need = sum(max(len(r[i]) for r in (header, *rows)) + 3 for i in range(len(header))) + 1
    (out if out.is_terminal else Console(width=max(out.width, need))).print(t)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        row = store.run_row(args.run_id)
        samples = store.samples(args.run_id)
    if not samples:
        raise ConfigError(f"run {args.run_id} has no finished samples to export")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.output,
             outputs=np.stack([s.output for s in samples]).astype(np.float32),
             labels=np.array([s.label for s in samples], dtype=np.int64),
             predicted=np.array([s.predicted for s in samples], dtype=np.int64),
             index=np.array([s.idx for s in samples], dtype=np.int64),
             counts=np.array([s.count for s in samples], dtype=np.int64),
             count_kind=np.array(row["count_kind"] or ""),
             run=np.array(json.dumps({k: row[k] for k in ("run_id", "board", "backend",
                                                           "engine", "dtype", "model",
                                                           "model_hash", "dataset",
                                                           "dataset_hash", "status")})))
    out.print(f"wrote {len(samples)} samples of run {args.run_id} to {args.output}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    if not args.db.exists():
        raise ConfigError(f"no results database at {args.db}: run 'bench run' or 'bench demo'")
    with Store(args.db) as store:
        summaries = store.summaries()
    from harness.report import published

    if not args.cpi > 0:
        raise ConfigError(f"--cpi must be positive, got {args.cpi:g}")
    comparison = report.compare(summaries, args.baseline,
                                published.load() if args.published else None, cpi=args.cpi)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report.render(comparison, args.format, args.output))
        out.print(f"wrote {args.output}")
    else:
        print(report.render(comparison, args.format), end="")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from harness.doctor import checks

    t = Table(title="bench doctor")
    for col in ("what", "status", "detail / how to get it"):
        t.add_column(col)
    missing_required = 0
    for c in checks():
        status = "[green]ok[/]" if c.ok else ("[red]missing[/]" if c.required
                                              else "[yellow]optional[/]")
        missing_required += (not c.ok) and c.required
        t.add_row(c.name, status, c.detail)
    out.print(t)
    return 1 if missing_required else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from harness.demo import prepare_demo_model

    err.print("[bold]1/3[/] training the example CNN on scikit-learn digits (CPU) ...")
    model_path, test_acc = prepare_demo_model(RESULTS / "demo")
    err.print(f"    PyTorch test accuracy {100 * test_acc:.2f} %, exported to {model_path}")
    err.print("[bold]2/3[/] building firmware (native engine, float32) for stm32l452 ...")
    err.print("[bold]3/3[/] measuring on the emulated STM32L452 (QEMU b-l475e-iot01a) ...")
    req = RunRequest(board="stm32l452", backend="qemu", model=str(model_path),
                     dataset="digits", limit=args.limit)
    summary = _run_with_progress(req, args.db)
    print_summary(summary)
    out.print(f"stored in {args.db}; see all runs with 'bench report'")
    return 0


def cmd_import_cubeai(args: argparse.Namespace) -> int:
    from harness.boards import get_board
    from harness.engines.stm32cubeai import import_report

    run_id = import_report(args.report, get_board(args.board), args.db, model=args.model,
                           dataset=args.dataset, dtype=args.dtype)
    with Store(args.db) as store:
        s = store.summary(run_id)
    print_summary(s)
    out.print(f"imported as run {run_id} into {args.db} (figures from {s.imported_from})",
              soft_wrap=True)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.sweep import check_plan, load_plan, run_sweep

    plan = load_plan(args.file)
    check_plan(plan)  # bad names fail here, before any banner or build
    labels = {e.key: e.label for e in plan.entries}
    if args.json:
        sweep_id, outcomes = run_sweep(plan, args.db, args.workers, args.resume)
    else:
        for note in plan.notes:
            err.print(f"bench: note: {note}")
        err.print(f"sweep [bold]{plan.name}[/]: {len(plan.entries)} runs, {args.workers} "
                  f"worker(s), results in {args.db}", soft_wrap=True)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, disable=not err.is_terminal) as bar:
            overall = bar.add_task("[bold]runs finished", total=len(plan.entries))
            tasks: dict[str, int] = {}

            def progress(event: str, key: str, done: int, total: int) -> None:
                if event == "finished":
                    bar.advance(overall)
                    if key in tasks:
                        bar.remove_task(tasks.pop(key))
                    elif not err.is_terminal:
                        err.print(f"finished {labels[key]}")
                    return
                if key not in tasks:
                    tasks[key] = bar.add_task(labels[key], total=total)
                bar.update(tasks[key], completed=done, total=total)

            sweep_id, outcomes = run_sweep(plan, args.db, args.workers, args.resume, progress)
    failed = [o for o in outcomes if o.status == "failed"]
    if args.json:
        print(json.dumps({"sweep_id": sweep_id, "runs": [
            {"label": o.entry.label, "key": o.entry.key, "run_id": o.run_id, "status": o.status,
             "error": o.error} for o in outcomes]}))
    else:
        _print_sweep(sweep_id, outcomes, args.db)
    if failed:
        raise BenchError(f"{len(failed)} of {len(outcomes)} runs failed ({failed[0].entry.label}:"
                         f" {failed[0].error}); the others are stored: fix and rerun with "
                         f"--resume")
    return 0


def _print_sweep(sweep_id: int, outcomes: list, db: Path) -> None:
    targets = sorted({f"{o.entry.board}/{o.entry.backend}" for o in outcomes})
    t = Table(title=f"sweep {sweep_id} on {', '.join(targets)}")
    for col in ("run", "model", "engine", "dtype", "status", "accuracy", "per inference",
                "ROM", "RAM"):
        t.add_column(col, justify="right" if col in ("run", "accuracy", "per inference", "ROM",
                                                      "RAM") else "left")
    with Store(db) as store:
        for o in outcomes:
            e = o.entry
            model = Path(e.model.split(":")[0]).stem
            s = store.summary(o.run_id) if o.run_id is not None else None
            status = o.status if o.status != "skipped" else "done earlier"
            if s is None or o.status == "failed":
                t.add_row(str(o.run_id or "-"), model, e.engine, e.dtype, status, "-", "-",
                          "-", "-")
                continue
            t.add_row(str(s.run_id), model, e.engine, e.dtype, status,
                      "-" if s.accuracy is None else f"{100 * s.accuracy:.1f} %",
                      "-" if s.count_per_inference is None
                      else f"{s.count_per_inference:,} {s.count_kind[:5]}.",
                      _kb(s.rom_bytes), _kb(s.ram_bytes))
    # One line per run, also when the output goes to a pipe or a log.
    (out if out.is_terminal else Console(width=120)).print(t)
    out.print(f"compare them: bench report --db {db}")


def cmd_power(args: argparse.Namespace) -> int:
    from harness.power.capture import capture

    with Progress(TextColumn("[bold]recording"), BarColumn(),
                  TextColumn("{task.completed:.1f} / {task.total:.1f} s"), console=err,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("capture", total=args.duration)
        cap = capture(args.meter, args.duration, args.output, args.rate,
                      tick=lambda done, total: bar.update(task, completed=done))
    tr = cap.trace
    t = Table(title=f"power trace from {args.meter}", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("samples", f"{len(tr):,} at {tr.sample_rate:,.0f} Hz ({tr.duration_s:.3f} s)")
    t.add_row("mean current / power", f"{1e3 * float(np.mean(tr.current_a)):.4f} mA / "
              f"{1e3 * float(np.mean(tr.current_a * tr.voltage_v)):.4f} mW")
    if cap.report is not None:
        r = cap.report
        t.add_row("inference windows", f"{len(r.windows)}" + (
            f" ({r.dropped_partial} cut by the trace's ends, left out)"
            if r.dropped_partial else ""))
        t.add_row("energy per window (measured)", f"median {r.median_uj:,.3f} uJ, min "
                  f"{r.min_uj:,.3f}, max {r.max_uj:,.3f} (spread {r.spread_pct:.1f} %)")
        length = float(np.median([w.duration_s for w in r.windows]))
        t.add_row("window length", f"median {1e6 * length:,.1f} us")
    t.add_row("trace", str(cap.trace_file))
    t.add_row("plot", str(cap.plot_file))
    out.print(t)
    if cap.report is not None and len(cap.report.windows) <= 20:
        w = Table(title="windows")
        for col in ("#", "start (s)", "length (us)", "energy (uJ)"):
            w.add_column(col, justify="right")
        for k, win in enumerate(cap.report.windows):
            w.add_row(str(k), f"{win.t_start_s:.6f}", f"{1e6 * win.duration_s:,.1f}",
                      f"{win.energy_uj:,.3f}")
        out.print(w)
    if cap.error is not None:
        raise type(cap.error)(f"{cap.error} (the trace and its plot are written)")
    return 0
