// Package release names the tsm release this binary is. It imports
// nothing, so that package prefetch, which runs before the rest of the
// binary is initialised, can compare it with the daemon's.
package release

// Build names the tsm release; install.sh sets it with
// -ldflags "-X github.com/tetra/tsm/internal/release.Build=...". The daemon
// sends it in api.BuildHeader so that a CLI can tell an older daemon is
// still running after an upgrade.
var Build = "dev"
