package workload

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// dataLink is the symlink the kubelet swaps atomically when it updates a
// Secret volume; the visible files are links through it.
const dataLink = "..data"

// maxReadAttempts bounds the retries of a read that raced with a mount swap.
// The kubelet swaps at most about once a minute, so two attempts almost
// always suffice.
const maxReadAttempts = 5

// snapshot is one consistent version of a mounted Secret.
type snapshot struct {
	// version is the target of "..data" (a timestamped directory), or ""
	// for a plain directory that is not a kubelet volume.
	version string
	files   map[string]string
}

// mountVersion returns the current target of dir/..data, or "" when dir is
// a plain directory.
func mountVersion(dir string) (string, error) {
	target, err := os.Readlink(filepath.Join(dir, dataLink))
	switch {
	case err == nil:
		return target, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.EINVAL):
		return "", nil
	default:
		return "", fmt.Errorf("read %s: %w", filepath.Join(dir, dataLink), err)
	}
}

// readMount reads the named files of a mounted Secret as one version. It
// reads through the resolved "..data" target rather than the visible links,
// so a swap between two files cannot pair an old client_id with a new
// client_secret; when the target changes during the read (the kubelet removes
// the old directory right after the swap), it reads again. Absent files are
// absent from the result; values are trimmed of surrounding white space.
func readMount(dir string, names []string) (snapshot, error) {
	for range maxReadAttempts {
		version, err := mountVersion(dir)
		if err != nil {
			return snapshot{}, err
		}
		base := dir
		if version != "" {
			base = filepath.Join(dir, version)
			if filepath.IsAbs(version) {
				base = version
			}
		}
		files, err := readFiles(base, names)
		if err != nil {
			return snapshot{}, fmt.Errorf("read mounted secret %s: %w", dir, err)
		}
		after, err := mountVersion(dir)
		if err != nil {
			return snapshot{}, err
		}
		if after == version {
			return snapshot{version: version, files: files}, nil
		}
	}
	return snapshot{}, fmt.Errorf("read mounted secret %s: it changed during %d consecutive reads", dir, maxReadAttempts)
}

func readFiles(base string, names []string) (map[string]string, error) {
	files := make(map[string]string, len(names))
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(base, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files[name] = strings.TrimSpace(string(b))
	}
	return files, nil
}

// require returns the value of each named file, or an error naming the
// first one that is missing or empty.
func (s snapshot) require(dir string, names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, name := range names {
		v := s.files[name]
		if v == "" {
			return nil, fmt.Errorf("%w: %s has no %s", ErrMissing, dir, name)
		}
		out[i] = v
	}
	return out, nil
}
