#!/usr/bin/env bash
# Makes TorchSharp 0.107.0's libLibTorchSharp.so load on systems whose libstdc++ stops before GLIBCXX_3.4.32
# (Debian 12, Ubuntu 22.04). The library lists GLIBCXX_3.4.32 as a needed version only for the marker symbol
# _ZSt21ios_base_library_initv, which has no relocation; marking that one vernaux entry weak (VER_FLG_WEAK = 2)
# lets the dynamic loader accept an older libstdc++. Idempotent; patches only the known file; skips systems
# whose libstdc++ already has 3.4.32.
set -euo pipefail
lib="$1"
original=cf33b1b0bb6bbb9754a768fb5c5d04d9f498603be50e73f55621a0b40ee608b8
offset=$((0x3fa34))  # vna_flags of the GLIBCXX_3.4.32 vernaux entry in the 0.107.0 linux-x64 build

stdcxx=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')
if [ -n "${stdcxx}" ] && grep -q GLIBCXX_3.4.32 "${stdcxx}" 2>/dev/null; then
  exit 0  # the system libstdc++ is new enough
fi
sum=$(sha256sum "$lib" | cut -d' ' -f1)
flag=$(od -An -tu1 -j "$offset" -N1 "$lib" | tr -d ' ')
if [ "$sum" != "$original" ]; then
  if [ "$flag" = "2" ]; then exit 0; fi   # already patched
  echo "patch-libtorchsharp: $lib is not the TorchSharp 0.107.0 build this patch knows (sha256 $sum); not patched" >&2
  exit 0
fi
tmp="$lib.patching"
cp "$lib" "$tmp"
printf '\x02' | dd of="$tmp" bs=1 seek="$offset" conv=notrunc status=none
mv -f "$tmp" "$lib"
