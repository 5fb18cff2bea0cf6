#!/usr/bin/env bash
# check-layers.sh: fails if an #include breaks the layering of src/.
#
# The rules (README, "Layout of the source"):
#   - src/core/ never includes a PostgreSQL header, and never src/pg/ or
#     src/cli/: every quoted include of a core file names core/..., and every
#     core .cpp includes core/base/no_postgres.h last (its static_assert stops
#     a build that reached postgres.h). Core headers are also compiled one by
#     one without PostgreSQL's include paths by the CMake build.
#   - each core folder includes only the folders listed for it below, so the
#     folders form layers without cycles.
#   - src/cli/ (the pgbak program) includes core only; src/pg/ includes core
#     and itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Which core folders each core folder may include (besides itself).
declare -A allowed=(
  [base]=""
  [http]="base"
  [pipeline]="base"
  [crypto]="base pipeline"
  [storage]="base pipeline http crypto schedule"
  [archive]="base pipeline crypto storage options"
  [schedule]="base"
  [notify]="base http"
  [options]="base schedule notify"
  [wal]="base pipeline storage crypto archive"
  [recovery]="base pipeline storage crypto archive wal"
)

# PostgreSQL's own headers and libpq, as a core file would name them.
pg_header='^#include [<"](postgres|postgres_fe|c|fmgr|funcapi|miscadmin|pgstat|pgtime|libpq-fe|libpq-events|pg_config[a-z_]*)\.h[>"]|^#include [<"](access|catalog|commands|executor|lib|libpq|mb|nodes|parser|port|postmaster|replication|storage|tcop|utils|common)/'

errors=0
fail() {
  echo "check-layers: $*" >&2
  errors=$((errors + 1))
}

mapfile -t core_files < <(git ls-files 'src/core/*.cpp' 'src/core/*.h' 2>/dev/null ||
                          find src/core -name '*.cpp' -o -name '*.h')
((${#core_files[@]} > 0)) || { echo "check-layers: no files under src/core" >&2; exit 1; }

for file in "${core_files[@]}"; do
  rel=${file#src/core/}
  folder=${rel%%/*}
  [[ $rel == */* ]] || { fail "$file: core files live in a subsystem folder"; continue; }
  [[ -v allowed[$folder] ]] || { fail "$file: folder core/$folder has no rule in check-layers.sh"; continue; }
  while IFS= read -r line; do
    if [[ $line =~ $pg_header ]]; then
      fail "$file: includes a PostgreSQL header: $line"
    elif [[ $line =~ ^#include\ \"([^\"]+)\" ]]; then
      target=${BASH_REMATCH[1]}
      if [[ $target != core/* ]]; then
        fail "$file: includes $target outside src/core/"
        continue
      fi
      target_rel=${target#core/}
      target_folder=${target_rel%%/*}
      [[ $target_folder == "$folder" ]] && continue
      [[ " ${allowed[$folder]} " == *" $target_folder "* ]] ||
        fail "$file: core/$folder may not include core/$target_folder ($target)"
    fi
  done < <(grep -E '^#include ' "$file" || true)
  if [[ $file == *.cpp ]]; then
    last=$(grep -E '^#include "' "$file" | tail -1)
    [[ $last == '#include "core/base/no_postgres.h"' ]] ||
      fail "$file: its last include must be \"core/base/no_postgres.h\""
  fi
done

while IFS= read -r hit; do
  fail "src/cli may include only core: $hit"
done < <(grep -rnE '^#include "pg/' src/cli 2>/dev/null || true)
while IFS= read -r hit; do
  fail "src/pg may not include src/cli: $hit"
done < <(grep -rnE '^#include "cli/' src/pg 2>/dev/null || true)

if ((errors > 0)); then
  echo "check-layers: $errors violation(s)" >&2
  exit 1
fi
echo "check-layers: ${#core_files[@]} core files keep their layers"
