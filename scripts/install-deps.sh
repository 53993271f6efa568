#!/usr/bin/env bash
# System packages kgqa needs to build and test (Debian/Ubuntu), installed only when missing:
# libclang for oxigraph's RocksDB bindings (bindgen), OpenBLAS for the matrix products (the
# default `blas` feature), WordNet 3.0 for the real-data tier and the lemmatizer's
# exception lists. Used by `.ci/run` and the README's main command.
set -euo pipefail
missing=()
[ -f /usr/share/wordnet/data.noun ] || missing+=(wordnet-base)
# libclang itself (libclang.so / libclang-N.so), not libclang-cpp, which some images carry
# alone and which bindgen cannot use.
have() { compgen -G "$1" >/dev/null; }
have '/usr/lib/llvm-*/lib/libclang.so*' || have '/usr/lib/*/libclang-[0-9]*.so*' || missing+=(libclang-dev)
have '/usr/lib/*/libopenblas.so' || [ -e /usr/lib/libopenblas.so ] || missing+=(libopenblas-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
