//go:build !tsmprofile

package daemon

// startProfile profiles nothing: see profile.go (build tag tsmprofile).
func startProfile() func() { return func() {} }
