#!/usr/bin/env bash
# The project's test command (README). Builds and runs every test project on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet test ZImageSharp.slnx -c Release "$@"
