#!/usr/bin/env bash
# Parameter sweep: one run directory per (viscosity, resolution) pair.
set -euo pipefail

viscosities=(1e-3 5e-4 1e-4)
resolutions=(64 128)
scratch="${SCRATCH:-/tmp}/sweep"

for nu in "${viscosities[@]}"; do
    for n in "${resolutions[@]}"; do
        run="$scratch/nu${nu}_n${n}"
        mkdir -p "$run" && cp "$TEMPLATE_DIR/params.in" "$run/"
        sed -i "s/@NU@/$nu/; s/@N@/$n/" "$run/params.in"
        echo "prepared $run"
    done
done
