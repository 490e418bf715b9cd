#!/bin/sh
# Print the path of a native llama-server, building one if there is none.
# Looked for, in order: $LLAMA_SERVER, llama-server on PATH, the build kept in
# .cache/llama.cpp/ by an earlier run. Else: the llama-cpp-python sdist (which vendors
# llama.cpp) is downloaded with pip and its llama.cpp built with cmake, target llama-server
# only (about 20-25 minutes on 2 cores). Progress goes to stderr; only the path to stdout.
set -eu
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${WORKBENCH_LLAMA_CACHE:-$(pwd)/.cache/llama.cpp}"
PY="${PY:-python3}"
if [ -n "${LLAMA_SERVER:-}" ] && [ -x "$LLAMA_SERVER" ]; then echo "$LLAMA_SERVER"; exit 0; fi
if command -v llama-server >/dev/null 2>&1; then command -v llama-server; exit 0; fi
BIN="$CACHE/llama_cpp_python-$VERSION/vendor/llama.cpp/build/bin/llama-server"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
command -v cmake >/dev/null 2>&1 || { echo "llama_server.sh: cmake is missing (apt-get install cmake g++)" >&2; exit 1; }
mkdir -p "$CACHE"
echo "llama_server.sh: building llama-server from llama-cpp-python $VERSION's vendored llama.cpp in $CACHE" >&2
"$PY" -m pip download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$CACHE" >&2
tar -xzf "$CACHE/llama_cpp_python-$VERSION.tar.gz" -C "$CACHE"
cd "$CACHE/llama_cpp_python-$VERSION/vendor/llama.cpp"
cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >&2
cmake --build build --target llama-server -j"$(nproc)" >&2
echo "$BIN"
