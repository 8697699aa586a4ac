#!/usr/bin/env bash
# Mutation testing (cosmic-ray) of one core module on a seeded random sample of its mutants.
#   pip install cosmic-ray            # not a test dependency: this is a manual, CPU-hungry check
#   bash experiments/mutation/run.sh NAME [N]
#   bash experiments/mutation/run.sh NAME --recheck   # rerun today's tests on the recorded survivors
# NAME.toml in this folder names the module and the tests that guard it; N mutants are drawn with seed 0
# (default 40; 0 = all). cosmic-ray edits files in place, so it works on a throwaway copy of the
# checkout's tracked files, imported through its own package tree (nothing here is touched). Results:
# results/NAME.json (counts, kill rate with a 95% Clopper-Pearson interval, every survivor's diff) and
# results/NAME.md.
set -euo pipefail
NAME=$1
N=${2:-40}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$WORK")
mkdir -p "$WORK/pkg/ghostnas"
touch "$WORK/pkg/ghostnas/__init__.py"
for p in ghostnet space search analysis cli; do ln -s "$WORK/$p" "$WORK/pkg/ghostnas/$p"; done
cd "$WORK"
export PYTHONPATH="$WORK/pkg" OMP_NUM_THREADS=1 CI=
if [ "$N" = "--recheck" ]; then
  python "$HERE/sample.py" recheck "$HERE/$NAME.toml" --json "$HERE/results/$NAME.json" --md "$HERE/results/$NAME.md"
  exit 0
fi
cosmic-ray init "$HERE/$NAME.toml" session.sqlite
python "$HERE/sample.py" sample session.sqlite "$N" --seed 0
cosmic-ray exec "$HERE/$NAME.toml" session.sqlite
mkdir -p "$HERE/results"
python "$HERE/sample.py" report session.sqlite --name "$NAME" --config "experiments/mutation/$NAME.toml" \
  --json "$HERE/results/$NAME.json" --md "$HERE/results/$NAME.md"
