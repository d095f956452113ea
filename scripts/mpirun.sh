#!/usr/bin/env bash
# mpirun with the flags this machine needs: Open MPI refuses to start as root without
# --allow-run-as-root, and more ranks than cores without --oversubscribe. Waiting ranks yield
# the core (mpi_yield_when_idle), so a sleeping or waiting stage does not slow the others.
set -euo pipefail
extra=(--oversubscribe --mca mpi_yield_when_idle 1)
[ "$(id -u)" -eq 0 ] && extra+=(--allow-run-as-root)
exec mpirun "${extra[@]}" "$@"
