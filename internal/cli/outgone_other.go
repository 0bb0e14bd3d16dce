//go:build !linux

package cli

import "os"

// outputGone is watched on Linux only (outgone_linux.go): elsewhere a
// follow learns that its reader left at its next write.
func outputGone(*os.File) (gone <-chan struct{}, stop func()) { return nil, func() {} }
