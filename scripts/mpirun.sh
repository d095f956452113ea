#!/usr/bin/env bash
# mpirun with the flags this machine needs: Open MPI refuses to start as root without
# --allow-run-as-root, and more ranks than cores without --oversubscribe.
set -euo pipefail
extra=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && extra+=(--allow-run-as-root)
exec mpirun "${extra[@]}" "$@"
