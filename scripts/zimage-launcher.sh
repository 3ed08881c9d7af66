#!/usr/bin/env bash
# Launcher of the GPU bundle. The engine itself locates PyTorch's libtorch (the active venv/conda env, common prefixes,
# then `python3 -c 'import torch'`); set ZIMAGE_LIBTORCH=/path/to/site-packages/torch/lib to choose one explicitly.
# Server GC keeps allocation pauses short under the HTTP server's load.
here="$(cd "$(dirname "$0")" && pwd)"
export DOTNET_gcServer="${DOTNET_gcServer:-1}"
exec "$here/zimage" "$@"
