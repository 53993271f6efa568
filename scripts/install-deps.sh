#!/usr/bin/env bash
# System packages kgqa needs to build and test (Debian/Ubuntu), installed only when missing:
# libclang for oxigraph's RocksDB bindings (bindgen), OpenBLAS for the matrix products (the
# default `blas` feature), WordNet 3.0 for the real-data tier and the lemmatizer's
# exception lists. Used by `.ci/run` and the README's main command.
set -euo pipefail
missing=()
[ -f /usr/share/wordnet/data.noun ] || missing+=(wordnet-base)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-dev)
ls /usr/lib/*/libopenblas.so >/dev/null 2>&1 || [ -e /usr/lib/libopenblas.so ] || missing+=(libopenblas-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
