#!/usr/bin/env bash
# On the GPU machine: unpack the carried bundle (see scripts/publish-gpu.sh) into /tmp and print its path.
set -euo pipefail
bundle="${1:-.device-carry/zimage-linux-x64.tar.xz}"
rm -rf /tmp/zimage-linux-x64
tar -C /tmp -xJf "$bundle"
echo /tmp/zimage-linux-x64/zimage.sh
