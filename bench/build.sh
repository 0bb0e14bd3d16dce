# Sourced by the bench scripts (with $work set): builds tsm from this
# checkout into $work/tsm-now and, when BASE names a git revision, that
# revision into $work/tsm-base, so both are measured in the same run.
# Sets tsm_bins and defines label BIN.
echo "building tsm from this checkout${BASE:+ and from $BASE}…" >&2
CGO_ENABLED=0 go build -trimpath -o "$work/tsm-now" ./cmd/tsm
tsm_bins=("$work/tsm-now")
if [[ -n "${BASE:-}" ]]; then
  mkdir -p "$work/base-src"
  git archive "$BASE" | tar -x -C "$work/base-src"
  (cd "$work/base-src" && CGO_ENABLED=0 go build -trimpath -o "$work/tsm-base" ./cmd/tsm)
  tsm_bins=("$work/tsm-base" "$work/tsm-now")
fi
label() {
  case ${1##*/} in
    tsm-base) echo "tsm $BASE" ;;
    *) echo "tsm $(git describe --always --dirty 2>/dev/null)" ;;
  esac
}
