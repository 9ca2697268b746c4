#!/usr/bin/env bash
# One-command set-up on a fresh Debian/Ubuntu machine: system packages, then npm dependencies and build.
# - ffmpeg: Debian's build decodes exactly like the reference's OpenCV 4.x FFmpeg backend (see README);
#   without it stnet falls back to the static ffmpeg shipped in @ffmpeg-installer/linux-x64.
# - chromium: only for the web page's browser test.
# - xz-utils: the golden test fixtures are xz-compressed.
# - fonts-dejavu-core: the font `stnet annotate` draws its labels with.
# - redis-server: the queue tests (test/queue) start their own Redis on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]} with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: missing ${need[*]}; install them with your package manager (stnet still works with its bundled ffmpeg)" >&2
  fi
fi

# onnxruntime-node's install script would try to download CUDA binaries; the CPU build ships in the package.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
npm run build
