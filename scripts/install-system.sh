#!/usr/bin/env bash
# Installs the system packages bench needs on Debian 12: the Arm toolchain, the
# open FPGA flow and QEMU 10 (bookworm's own QEMU 7.2 lacks the STM32L4 board, so it comes from
# bookworm-backports). Idempotent: does nothing when everything is present.
set -euo pipefail

need=()
command -v arm-none-eabi-gcc >/dev/null || need+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
[ -e /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -e /usr/lib/arm-none-eabi/lib/libc.a ] || need+=(libnewlib-arm-none-eabi)
# The cross C++ library: TFLM firmware (--engine tflm with TFLM_ROOT) is C++.
[ -e /usr/lib/arm-none-eabi/include/c++ ] || need+=(libstdc++-arm-none-eabi-newlib)
qemu_ok=0
if command -v qemu-system-arm >/dev/null; then
  ver=$(qemu-system-arm --version | head -n1 | sed -E 's/.*version ([0-9]+).*/\1/')
  [ "${ver:-0}" -ge 9 ] && qemu_ok=1
fi
command -v gcc >/dev/null || need+=(gcc)
# clang and its libFuzzer/sanitizer runtimes: 'make fuzz' (the runtimes are
# only recommended by clang, and recommends are not installed here).
command -v clang >/dev/null || need+=(clang)
compgen -G '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a' >/dev/null \
  || need+=(libclang-rt-14-dev)
python3 -c 'import venv' 2>/dev/null || need+=(python3-venv)
# FPGA boards: synthesis (yosys, nextpnr-ice40, icestorm's icepack) and
# programming (openFPGALoader); all Debian 12 packages.
command -v yosys >/dev/null || need+=(yosys)
command -v nextpnr-ice40 >/dev/null || need+=(nextpnr-ice40)
command -v icepack >/dev/null || need+=(fpga-icestorm)
command -v openFPGALoader >/dev/null || need+=(openfpgaloader)
# Verilator 5.006 (and g++/make, which it compiles with): bench's SNN core (--backend verilator).
command -v verilator >/dev/null || need+=(verilator)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)

if [ ${#need[@]} -eq 0 ] && [ $qemu_ok -eq 1 ]; then
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ $qemu_ok -eq 0 ]; then
  src=/etc/apt/sources.list.d/debian.sources
  bp=/etc/apt/sources.list.d/bench-backports.sources
  if [ ! -e "$bp" ] && [ -e "$src" ]; then
    # Keep only the main stanza, pointed at bookworm-backports (no host name written here).
    awk 'BEGIN{RS="";ORS="\n\n"} /Suites: bookworm bookworm-updates/' "$src" \
      | sed 's/^Suites: bookworm bookworm-updates$/Suites: bookworm-backports/' | $SUDO tee "$bp" >/dev/null
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ $qemu_ok -eq 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-arm
fi
