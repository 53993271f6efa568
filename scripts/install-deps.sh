#!/usr/bin/env bash
# System packages kgqa needs to build and test (Debian/Ubuntu), installed only when missing:
# libclang for oxigraph's RocksDB bindings (bindgen), OpenBLAS for the matrix products (the
# default `blas` feature), WordNet 3.0 for the real-data tier and the lemmatizer's
# exception lists. Used by `.ci/run` and the README's main command. With KGQA_TEST_DEPS=1
# (`.ci/run`) also Chromium, the real browser the web page's test drives headless, and
# Virtuoso, the existing triple store the remote-graph test reads.
set -euo pipefail
missing=()
[ -f /usr/share/wordnet/data.noun ] || missing+=(wordnet-base)
# libclang itself (libclang.so / libclang-N.so), not libclang-cpp, which some images carry
# alone and which bindgen cannot use.
have() { compgen -G "$1" >/dev/null; }
have '/usr/lib/llvm-*/lib/libclang.so*' || have '/usr/lib/*/libclang-[0-9]*.so*' || missing+=(libclang-dev)
have '/usr/lib/*/libopenblas.so' || [ -e /usr/lib/libopenblas.so ] || missing+=(libopenblas-dev)
test_pkgs=()
if [ "${KGQA_TEST_DEPS:-0}" = 1 ]; then
    command -v chromium >/dev/null || command -v chromium-browser >/dev/null || test_pkgs=(chromium)
    # An existing triple store for the remote-graph test (tests/virtuoso.rs).
    command -v virtuoso-t >/dev/null || test_pkgs+=(virtuoso-opensource-7-bin)
fi
if [ "${#missing[@]}" -gt 0 ] || [ "${#test_pkgs[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    if [ "${#missing[@]}" -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
    fi
    # The browser and Virtuoso alone, without their recommendations (headless use only).
    if [ "${#test_pkgs[@]}" -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${test_pkgs[@]}"
    fi
fi
