"""The FPGA target: parts (part.py), a board's FPGA facts (facts.py), the
open synthesis flow yosys -> nextpnr -> icepack (synth.py), and the energy
estimate from the core's event counts (energy.py)."""
