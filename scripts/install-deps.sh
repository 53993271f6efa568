#!/usr/bin/env bash
# System packages kgqa needs to build and test (Debian/Ubuntu), installed only when missing:
# libclang for oxigraph's RocksDB bindings (bindgen), OpenBLAS for the matrix products (the
# default `blas` feature), WordNet 3.0 for the real-data tier and the lemmatizer's
# exception lists. Used by `.ci/run` and the README's main command. With KGQA_TEST_DEPS=1
# (`.ci/run`) also Chromium, the real browser the web page's test drives headless.
set -euo pipefail
missing=()
[ -f /usr/share/wordnet/data.noun ] || missing+=(wordnet-base)
# libclang itself (libclang.so / libclang-N.so), not libclang-cpp, which some images carry
# alone and which bindgen cannot use.
have() { compgen -G "$1" >/dev/null; }
have '/usr/lib/llvm-*/lib/libclang.so*' || have '/usr/lib/*/libclang-[0-9]*.so*' || missing+=(libclang-dev)
have '/usr/lib/*/libopenblas.so' || [ -e /usr/lib/libopenblas.so ] || missing+=(libopenblas-dev)
browser=()
if [ "${KGQA_TEST_DEPS:-0}" = 1 ]; then
    command -v chromium >/dev/null || command -v chromium-browser >/dev/null || browser=(chromium)
fi
if [ "${#missing[@]}" -gt 0 ] || [ "${#browser[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    if [ "${#missing[@]}" -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
    fi
    # The browser alone, without its desktop recommendations (headless use only).
    if [ "${#browser[@]}" -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${browser[@]}"
    fi
fi
