"""Firmware builds: the toolchain, the build itself, the Firmware record and
the ELF memory report."""
