#!/usr/bin/env bash
# check-format.sh: fails if any C++ source differs from .clang-format.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v clang-format >/dev/null || { echo "clang-format missing: run scripts/install-deps.sh" >&2; exit 2; }
mapfile -t files < <(git ls-files 'src/*.cpp' 'src/*.h' 'test/*.cpp' 'test/*.h' 2>/dev/null ||
                     find src test -name '*.cpp' -o -name '*.h')
((${#files[@]} == 0)) && exit 0
clang-format --dry-run --Werror "${files[@]}"
echo "check-format: ${#files[@]} files formatted"
