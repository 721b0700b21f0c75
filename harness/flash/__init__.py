"""Programming real boards: one file per method (pyocd_flash.py: SWD probes
through pyOCD; ambiq_wired.py: the Apollo3's UART bootloader; openfpgaloader.py:
FPGA bitstreams), and what they
share: image.py (an ELF's flash bytes, whether it fits), ports.py (serial
ports), handshake.py (waiting for the firmware after a flash) and flow.py
(bench flash on a real board, start to handshake)."""
