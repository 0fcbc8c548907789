// Package workloadtest simulates the kubelet's Secret volume for tests of code
// that reads mounted Secrets, such as the token sources of package workload.
package workloadtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// dataDirName is the symlink the kubelet swaps atomically; every file of the
// volume is a symlink through it (kubernetes pkg/volume/util/atomic_writer.go).
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// WriteMount writes files into dir exactly as the kubelet updates a Secret
// volume: the new content goes into a fresh hidden timestamped directory, a
// symlink "..data_tmp" to it is renamed over "..data" (one atomic step), each
// visible file is a symlink "name -> ..data/name", and the previous
// timestamped directory and the links of files no longer present are removed.
// A reader that resolves "..data" once sees either the old or the new files,
// never a mix; a reader that opens the visible names one by one can see both.
//
// files is typically a Secret's Data.
func WriteMount(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create mount %s: %w", dir, err)
	}
	old, _ := os.Readlink(filepath.Join(dir, dataDirName))
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return fmt.Errorf("create timestamped directory: %w", err)
	}
	for name, content := range files {
		if strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, "..") {
			return fmt.Errorf("invalid file name %q", name)
		}
		if err := os.WriteFile(filepath.Join(ts, name), content, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	tmp := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return fmt.Errorf("link new data: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataDirName)); err != nil {
		return fmt.Errorf("swap data: %w", err)
	}
	if err := linkVisible(dir, files); err != nil {
		return err
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			return fmt.Errorf("remove previous data: %w", err)
		}
	}
	return nil
}

// linkVisible creates "name -> ..data/name" for new files and removes the
// links of files that are gone, as the kubelet does after the swap.
func linkVisible(dir string, files map[string][]byte) error {
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, name), link); err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read mount %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") || e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if _, ok := files[name]; !ok {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", name, err)
			}
		}
	}
	return nil
}
