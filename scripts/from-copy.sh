# Sourced first by the long-running scripts (train-all.sh, measure-run.sh):
#   . "${KGQA_FROM_ROOT:-$(dirname "$0")/..}/scripts/from-copy.sh" "$@"
# bash reads a script as it runs, so editing one while it runs can change or break what it
# does next. This re-runs the calling script from a temporary copy (removed when the copy
# exits), then sets ROOT to the repository root and changes to it. The variables that
# pass the copy its root are unset there, so scripts it starts make copies of their own.
if [ -z "${KGQA_FROM_COPY:-}" ]; then
  ROOT=$(cd "$(dirname "$0")/.." && pwd)
  KGQA_FROM_COPY=$(mktemp)
  cp "$0" "$KGQA_FROM_COPY"
  KGQA_FROM_COPY="$KGQA_FROM_COPY" KGQA_FROM_ROOT="$ROOT" exec bash "$KGQA_FROM_COPY" "$@"
fi
ROOT=$KGQA_FROM_ROOT
_from_copy=$KGQA_FROM_COPY
unset KGQA_FROM_COPY KGQA_FROM_ROOT
trap 'rm -f "$_from_copy"' EXIT
cd "$ROOT"
