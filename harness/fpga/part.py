"""FPGA parts: what a device has, as the synthesis flow and its fit check
need it. One entry per part; a board's fpga.toml names its part by key."""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import ConfigError


@dataclass(frozen=True)
class FpgaPart:
    """One FPGA device in one package.

    Each iCE40 logic cell is one LUT4 plus one flip-flop, so ``luts`` and
    ``ffs`` are both the logic-cell count.
    """

    key: str  # what fpga.toml's ``part`` says
    name: str  # the vendor's name
    family: str  # nextpnr's architecture: nextpnr-<family>
    device_flag: str  # nextpnr's device option
    package: str
    luts: int
    ffs: int
    bram_blocks: int  # EBR
    bram_block_bits: int
    spram_blocks: int
    spram_block_bits: int
    dsp_blocks: int  # MAC16
    io: int  # user I/O of the package
    synth_options: tuple[str, ...] = ()  # yosys synth_<family> options for this part
    source: str = ""

    def limits(self) -> dict[str, int]:
        """Resource -> what the part has, by FpgaResources' field names."""
        return {"luts": self.luts, "ffs": self.ffs, "logic_cells": self.luts,
                "bram_blocks": self.bram_blocks, "spram_blocks": self.spram_blocks,
                "dsp_blocks": self.dsp_blocks, "io": self.io}


PARTS: dict[str, FpgaPart] = {
    "up5k": FpgaPart(
        key="up5k", name="iCE40UP5K", family="ice40", device_flag="--up5k", package="sg48",
        luts=5280, ffs=5280, bram_blocks=30, bram_block_bits=4096, spram_blocks=4,
        spram_block_bits=262144, dsp_blocks=8, io=39,
        # -dsp: map multipliers to the UP5K's SB_MAC16 blocks (off by default in yosys)
        synth_options=("-dsp", "-abc9"),
        source="Lattice iCE40 UltraPlus Family Data Sheet (FPGA-DS-02008): 5,280 LUTs, "
               "30 x 4 Kbit EBR, 4 x 256 Kbit SPRAM, 8 DSP, 39 I/O in SG48"),
}


def get_part(key: str) -> FpgaPart:
    try:
        return PARTS[key.lower()]
    except KeyError:
        raise ConfigError(f"unknown FPGA part {key!r}; known: {', '.join(PARTS)}") from None
