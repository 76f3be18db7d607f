#!/usr/bin/env bash
# Runs kiln's CPU tests for aarch64 (ARM64) on an x86-64 Debian machine: cross-compiles the
# test binaries and runs them under qemu-user, once on an emulated CPU with the dot-product
# extension (qemu's "max": the NEON + sdot dot products) and once on a Cortex-A53 (ARMv8.0,
# no dotprod: the plain NEON ones), so each NEON path is checked against the scalar one.
#
#   tools/test-aarch64.sh [extra cargo test args…]     e.g.  tools/test-aarch64.sh -- dot::
#
# Installs what it needs when missing: Debian's gcc-aarch64-linux-gnu (the linker and libc)
# and qemu-user (apt, as root or through sudo), and the Rust target (rustup). Runs the library
# tests and the CPU half of tests/kernels.rs (KILN_TEST_BACKENDS=cpu: there is no Vulkan
# driver inside qemu-user). On an aarch64 machine plain `cargo test` does the same natively.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  echo "test-aarch64: installing gcc-aarch64-linux-gnu and qemu-user"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq
  sudo_if_needed apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
fi
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export KILN_TEST_BACKENDS=cpu
# The emulated CPUs differ only in their features, so one build serves both.
for cpu in max cortex-a53; do
  echo "test-aarch64: qemu CPU $cpu"
  QEMU_CPU=$cpu cargo test --release --locked --target "$target" --lib --test kernels "$@"
done
