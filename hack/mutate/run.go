package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Outcome is what happened to a mutation.
type Outcome string

// The outcomes. Only Killed is good.
const (
	// Killed: a test failed with the mutation applied.
	Killed Outcome = "killed"
	// Survived: every test passed with the check disabled.
	Survived Outcome = "SURVIVED"
	// Stale: the original snippet is not in the file exactly once.
	Stale Outcome = "STALE"
	// Broken: the mutated code does not build, which proves nothing.
	Broken Outcome = "BROKEN"
	// BaselineFailed: the tests fail without the mutation too.
	BaselineFailed Outcome = "BASELINE-FAILED"
)

// Result is one row of the table.
type Result struct {
	Name    string
	Outcome Outcome
	// Detail is the failing test, or why the entry is stale or broken.
	Detail  string
	Elapsed time.Duration
}

// mutate returns the file's content with the mutation applied, or an error
// saying why the entry is stale.
func mutate(content string, m Mutation) (string, error) {
	switch n := strings.Count(content, m.Original); n {
	case 1:
		return strings.Replace(content, m.Original, m.Replace, 1), nil
	case 0:
		return "", fmt.Errorf("original not found in %s", m.File)
	default:
		return "", fmt.Errorf("original occurs %d times in %s", n, m.File)
	}
}

// overlay is go build's -overlay file (go help build).
type overlay struct {
	Replace map[string]string
}

// writeOverlay writes the mutated file and an overlay that puts it in place
// of the original, into dir; it returns the overlay's path. The working tree
// is never touched.
func writeOverlay(dir, root string, m Mutation) (string, error) {
	orig := filepath.Join(root, m.File)
	content, err := os.ReadFile(orig)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", m.File, err)
	}
	mutated, err := mutate(string(content), m)
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, filepath.Base(m.File))
	if err := os.WriteFile(src, []byte(mutated), 0o600); err != nil {
		return "", fmt.Errorf("write mutated file: %w", err)
	}
	b, err := json.Marshal(overlay{Replace: map[string]string{orig: src}})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, b, 0o600)
}

// testRun says how to run go test for one mutation or baseline.
type testRun struct {
	root, overlay, assets string
	packages              []string
	run                   string
	timeout               time.Duration
}

// args are go test's arguments: JSON events, no vet (a mutation may leave an
// unused value vet would complain about), no cached results.
func (t testRun) args() []string {
	a := []string{"test", "-json", "-count=1", "-vet=off", "-timeout", t.timeout.String()}
	if t.overlay != "" {
		a = append(a, "-overlay", t.overlay)
	}
	if t.run != "" {
		a = append(a, "-run", t.run)
	}
	return append(a, t.packages...)
}

// goTest runs the tests and classifies their events.
func goTest(ctx context.Context, t testRun) verdict {
	cmd := exec.CommandContext(ctx, "go", t.args()...)
	cmd.Dir = t.root
	cmd.Env = os.Environ()
	if t.assets != "" {
		cmd.Env = append(cmd.Env, "KUBEBUILDER_ASSETS="+t.assets)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return verdict{err: err}
	}
	if err := cmd.Start(); err != nil {
		return verdict{err: err}
	}
	v := readEvents(out)
	waitErr := cmd.Wait()
	v.exitOK = waitErr == nil
	if !v.exitOK && len(v.failed) == 0 && !v.buildFailed {
		v.stderr = lastLine(stderr.String())
	}
	return v
}

// verdict is what one go test run showed.
type verdict struct {
	exitOK      bool
	buildFailed bool
	buildOutput string
	// failed lists failing tests as "pkg.TestName/sub", deepest first.
	failed []string
	// failedTop counts failing top-level tests.
	failedTop int
	// failedPkgs lists packages that failed with no failing test (a
	// TestMain or a panic outside a test).
	failedPkgs []string
	passed     int
	stderr     string
	err        error
}

// testEvent is a go test -json event (go doc test2json).
type testEvent struct {
	Action, Package, Test, Output, ImportPath string
}

// readEvents reads go test -json output to its end.
func readEvents(r io.Reader) verdict {
	var v verdict
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	failedTests := map[string]bool{}
	for sc.Scan() {
		var e testEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch {
		case e.Action == "build-output":
			v.buildOutput += e.Output
		case e.Action == "build-fail":
			v.buildFailed = true
		case e.Action == "pass" && e.Test != "":
			v.passed++
		case e.Action == "fail" && e.Test != "":
			failedTests[e.Package] = true
			v.failed = append(v.failed, shortPkg(e.Package)+"."+e.Test)
			if !strings.Contains(e.Test, "/") {
				v.failedTop++
			}
		case e.Action == "fail" && !failedTests[e.Package]:
			v.failedPkgs = append(v.failedPkgs, shortPkg(e.Package))
		}
	}
	return v
}

// modulePath is dropped from package names in the table.
const modulePath = "github.com/tokenwarden/tokenwarden/"

// shortPkg drops the module path from a package path.
func shortPkg(p string) string { return strings.TrimPrefix(p, modulePath) }

// firstError is the first compiler message ("file.go:line:col: ...") of
// build output, or its last line.
func firstError(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, ".go:") {
			return strings.TrimSpace(l)
		}
	}
	return lastLine(out)
}

// lastLine keeps the last line of a message for the table.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// judge turns a mutated run's verdict into a result.
func judge(v verdict) (Outcome, string) {
	switch {
	case v.err != nil:
		return Broken, v.err.Error()
	case v.buildFailed:
		return Broken, "does not build: " + firstError(v.buildOutput)
	case len(v.failed) > 0:
		// Subtests fail before their parents: the first is the deepest.
		detail := v.failed[0]
		if n := v.failedTop; n > 1 {
			detail += fmt.Sprintf(" (+%d more)", n-1)
		}
		return Killed, detail
	case len(v.failedPkgs) > 0:
		return Killed, "package " + v.failedPkgs[0] + " failed outside a test"
	case !v.exitOK:
		return Broken, "go test failed: " + v.stderr
	case v.passed == 0:
		return Survived, "no test ran (check run:)"
	}
	return Survived, ""
}
