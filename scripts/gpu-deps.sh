#!/usr/bin/env bash
# Run HERE (Debian 12) before a GPU check: puts the Debian packages the GPU machine lacks
# (toml++ and CLI11) into .gpu-deps/root, an ignored folder the `device` tool carries.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps/debs
(cd .gpu-deps/debs && apt-get download libtomlplusplus-dev libtomlplusplus3 libcli11-dev >/dev/null)
rm -rf .gpu-deps/root
for deb in .gpu-deps/debs/*.deb; do dpkg-deb -x "$deb" .gpu-deps/root; done
echo "gpu-deps: $(ls .gpu-deps/debs | tr '\n' ' ')"
