"""bench's FPGA target: the open event-driven SNN core (fpga/rtl), how a
quantized spiking network is mapped onto it (core.py) and built for a run
(build.py)."""
