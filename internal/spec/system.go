package spec

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tetra/tsm/internal/envfile"
)

// System is everything Resolve needs from the machine.
type System interface {
	// LookPath returns the absolute path of the executable regular file
	// named file in the directories of pathEnv (a PATH value). Names with a
	// "/" are the caller's to resolve.
	LookPath(file, pathEnv string) (string, error)
	ReadFile(path string) ([]byte, error)
	// ReadHead returns at most the first n bytes of a regular file.
	ReadHead(path string, n int) ([]byte, error)
	Stat(path string) (fs.FileInfo, error)
	// PortFree reports whether the TCP port is free to use; the supervisor's
	// implementation also refuses ports tsm has reserved.
	PortFree(port int) bool
}

// OS returns the System of the running machine.
func OS() System { return osSystem{} }

type osSystem struct{}

func (osSystem) LookPath(file, pathEnv string) (string, error) {
	if !strings.Contains(file, "/") {
		for _, dir := range filepath.SplitList(pathEnv) {
			// A relative PATH entry would be resolved against the daemon's
			// cwd, not the caller's, so it cannot be honoured.
			if !filepath.IsAbs(dir) {
				continue
			}
			path := filepath.Join(dir, file)
			if info, err := os.Stat(path); err == nil && isExecutable(info) {
				return path, nil
			}
		}
	}
	return "", fmt.Errorf("%s: executable file not found in PATH: %w", file, fs.ErrNotExist)
}

// ReadFile reads only a regular file of at most envfile.MaxSize bytes: a
// FIFO named as an env file must not block a start, nor /dev/zero or a huge
// script exhaust the daemon's memory.
func (osSystem) ReadFile(path string) ([]byte, error) { return envfile.ReadFile(path) }

func (osSystem) ReadHead(path string, n int) ([]byte, error) { return envfile.ReadHead(path, n) }

func (osSystem) Stat(path string) (fs.FileInfo, error) { return os.Stat(path) }

func (osSystem) PortFree(port int) bool {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
