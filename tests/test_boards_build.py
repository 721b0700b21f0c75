"""Firmware for every board builds with the real arm-none-eabi-gcc, without a
warning, and fits the part: float32 and int8, the UART link real boards and
Renode use, plus the semihosting link of the QEMU board."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from conftest import Bench
from elftools.elf.elffile import ELFFile

from harness.backends import all_boards, get_board
from harness.build.build import build_for
from harness.build.firmware import Firmware
from harness.engines import get_engine
from harness.errors import BuildError
from harness.model.load import load_graph
from harness.run.quantize import quant_for
from harness.run.request import QuantRequest

pytestmark = [pytest.mark.emulator,  # firmware builds: the slow tier
              pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                                 reason="arm-none-eabi-gcc needed (make setup)")]

# Board, link: every microcontroller board on its UART link, and the QEMU
# board on semihosting (FPGA boards run no firmware: tests/test_fpga_core.py).
TARGETS = [("stm32l452", "uart"), ("apollo3", "uart"), ("mps2-an386", "uart"),
           ("stm32l452", "semihost")]


def _build(board: str, link: str, dtype: str, model: str, data: Path, out: Path) -> Firmware:
    graph = load_graph(model)
    scheme = None if dtype == "float32" else "pot"
    native = get_engine("native")
    quant, _ = quant_for(graph, native, dtype, str(data), QuantRequest(scheme=scheme))
    return build_for(get_board(board), graph, native, dtype, link, out, quant=quant)


def _sections(elf: Path) -> dict[str, tuple[int, int]]:
    with elf.open("rb") as f:
        return {s.name: (s["sh_addr"], s["sh_size"]) for s in ELFFile(f).iter_sections()}


def test_every_board_has_a_build_target() -> None:
    assert {b for b, _ in TARGETS} == {b for b in all_boards() if get_board(b).kind == "mcu"}


@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize(("board", "link"), TARGETS)
def test_firmware_builds_clean_and_fits(board: str, link: str, dtype: str, tiny_model: str,
                                        tiny_data: Path, tmp_path: Path) -> None:
    fw = _build(board, link, dtype, tiny_model, tiny_data, tmp_path / "fw")
    b = get_board(board)
    log = (fw.dir / "build.log").read_text()
    assert "warning" not in log, log
    assert fw.board == board and fw.dtype == dtype and fw.link == link
    # Within the part: the image and the RAM it claims, stack included.
    m = fw.memory
    assert 0 < m.rom_bytes <= b.rom_bytes
    assert 0 < m.ram_bytes + m.stack_reserved_bytes <= b.ram_bytes
    # The vector table is where the board starts the image: flash start on the
    # L452, 0xC000 behind the Apollo3's secure bootloader.
    sections = _sections(fw.elf)
    assert sections[".isr_vector"][0] == b.load_address
    with fw.elf.open("rb") as f:
        data = ELFFile(f).get_section_by_name(".isr_vector").data()
    sp, reset = int.from_bytes(data[0:4], "little"), int.from_bytes(data[4:8], "little")
    stack_top = sum(sections[".stack"])
    assert sp == stack_top and reset & 1  # initial SP = _estack, Thumb reset vector
    text_addr, text_size = sections[".text"]
    assert text_addr <= (reset & ~1) < text_addr + text_size


def test_linker_refuses_a_model_too_big_for_the_apollo3(tmp_path: Path) -> None:
    # 384 KB of SRAM cannot hold a 4 x 24000 float activation (375 KB) plus its
    # input (94 KB). Each alone is under 384 KB, so the check before the build
    # (harness/build/fit.py, lower bounds) lets it through to the linker.
    model = tmp_path / "wide.py"
    model.write_text(textwrap.dedent("""
        import torch
        from torch import nn

        def wide():
            torch.manual_seed(0)
            m = nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.ReLU(),
                              nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 2))
            m.input_shape = (1, 24000)
            return m.eval()
    """))
    with pytest.raises(BuildError, match=r"does not fit apollo3 .*384 KB RAM.*SRAM"):
        build_for(get_board("apollo3"), load_graph(f"{model}:wide"), get_engine("native"),
                  "float32", "uart", tmp_path / "fw")


def test_bench_build_reports_rom_and_ram_for_apollo3(bench_main: Bench, tiny_model: str,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "fw"
    p = bench_main("build", "--board", "apollo3", "--model", tiny_model, "-o", str(out),
                   env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    assert "apollo3 / native / float32" in p.stdout
    assert "ROM (flash)" in p.stdout and "of 976 KB" in p.stdout
    assert "RAM (.data + .bss)" in p.stdout
    # No QEMU machine for the Apollo3: the default is the UART link a board speaks.
    assert Firmware.load(out).link == "uart"


def test_parallel_builds_of_one_model_wait_and_reuse(tiny_model: str, tiny_data: Path,
                                                     tmp_path: Path) -> None:
    """Sweep or Dask workers on one machine building the same firmware at
    once: one builds, the others wait for it and reuse it (before the lock,
    a worker's link could fail on objects another was rewriting)."""
    from concurrent.futures import ThreadPoolExecutor

    graph = load_graph(tiny_model)  # once: torch.export is not thread-safe
    native = get_engine("native")
    quant, _ = quant_for(graph, native, "int8", str(tiny_data), QuantRequest(scheme="pot"))
    out = tmp_path / "fw"
    with ThreadPoolExecutor(max_workers=3) as pool:
        fws = list(pool.map(lambda _: build_for(get_board("stm32l452"), graph, native, "int8",
                                                "semihost", out, quant=quant), range(3)))
    assert len({fw.build_id for fw in fws}) == 1
    assert fws[0].elf.is_file() and "warning" not in (out / "build.log").read_text()
