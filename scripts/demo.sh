#!/usr/bin/env bash
# The main job, end to end, on the full city: validate, solve two scenarios, store both,
# compare them in an offline report, export the decision annexes of the baseline run.
set -euo pipefail
cd "$(dirname "$0")/.."
SP=.venv/bin/staffplan
OUT=${DEMO_OUT:-demo-out}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac  # absolute, for the store path
export STAFFPLAN_STORE=${STAFFPLAN_STORE:-$OUT/staffplan.db}
mkdir -p "$OUT"

latest_of() {  # newest run id of a scenario name
  .venv/bin/python -c "from optimizer.store import RunStore; import sys; print(RunStore().list(scenario=sys.argv[1])[0].run_id)" "$1"
}

echo "== 1. Validate the full city (168 units, 15,997 people)"
$SP validate scenarios/hcmc-2025/transition.toml

echo; echo "== 2. Solve 'transition 2025' (keep everyone)"
$SP run scenarios/hcmc-2025/transition.toml --out "$OUT/transition-tables"
BASE=$(latest_of hcmc-2025-transition)

echo; echo "== 3. Solve 'norm 2030' (quotas from the norm: the surplus shows)"
$SP run scenarios/hcmc-2025/norm-2030.toml
NORM=$(latest_of hcmc-2025-norm-2030)

echo; echo "== 4. Compare the two runs (report with map, offline)"
$SP compare "$BASE" "$NORM" --html "$OUT/compare.html" --csv "$OUT/compare" > "$OUT/compare.txt"
head -n 40 "$OUT/compare.txt"

echo; echo "== 5. Decision annexes of the baseline run (xlsx, docx, pdf)"
for fmt in xlsx docx pdf; do
  $SP export "$BASE" --format "$fmt" --out "$OUT/annex" \
    --issuer "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH" --decision-no "…/QĐ-UBND"
done

echo; echo "== Done. Everything is in $OUT/:"
echo "   run store           $STAFFPLAN_STORE (runs $BASE and $NORM; 'staffplan runs' lists them)"
echo "   placement tables    $OUT/transition-tables/ (placements.csv, unplaced.csv, units.csv)"
echo "   comparison          $OUT/compare.html (open in a browser, works offline), $OUT/compare/"
echo "   decision annexes    $OUT/annex/"

# The web app sees the same runs; its workspace is the demo folder, whose scenarios/ points
# at the project's scenarios so that they can be solved from the browser too.
ln -sfn "$PWD/scenarios" "$OUT/scenarios"
echo
echo "== Web app: the same runs in a browser (Vietnamese; English with the switch on each page)"
echo "   .venv/bin/staffplan serve --workspace $OUT --store $STAFFPLAN_STORE"
echo "   then open http://127.0.0.1:8765/  (it opens by itself where there is a display; Ctrl-C stops it)"
