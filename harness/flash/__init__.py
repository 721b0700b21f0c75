"""Programming real boards: one file per method (pyOCD over SWD, the Ambiq
UART bootloader), plus what they share (image.py: ELF bytes and fit;
handshake.py: waiting for the firmware after a flash)."""
