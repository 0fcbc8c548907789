package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// baseline runs one test selection unmutated, once, however many entries
// share it.
type baseline struct {
	once    sync.Once
	outcome Outcome
	detail  string
}

// selectionKey names a test selection: packages, -run and envtest.
func selectionKey(m Mutation) string {
	return fmt.Sprintf("%s|%s|%v", strings.Join(m.Packages, " "), m.Run, m.Envtest)
}

// runner holds what every mutation run shares.
type runner struct {
	cfg       config
	assets    string
	baselines map[string]*baseline
	progress  io.Writer
	mu        sync.Mutex // serialises progress lines
	done      int
	total     int
}

// execute tests every mutation, cfg.jobs at a time, and returns the results in
// list order.
func execute(ctx context.Context, cfg config, muts []Mutation, progress io.Writer) ([]Result, error) {
	r := &runner{cfg: cfg, baselines: map[string]*baseline{}, progress: progress, total: len(muts)}
	for _, m := range muts {
		if m.Envtest && r.assets == "" {
			assets, err := envtestAssets(cfg.root)
			if err != nil {
				return nil, err
			}
			r.assets = assets
		}
		if r.baselines[selectionKey(m)] == nil {
			r.baselines[selectionKey(m)] = &baseline{}
		}
	}
	results := make([]Result, len(muts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range cfg.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = r.one(ctx, muts[i])
				r.report(results[i])
			}
		}()
	}
	for i := range muts {
		next <- i
	}
	close(next)
	wg.Wait()
	return results, ctx.Err()
}

// envtestAssets is KUBEBUILDER_ASSETS from the environment or the setup script.
func envtestAssets(root string) (string, error) {
	if a := os.Getenv("KUBEBUILDER_ASSETS"); a != "" {
		return a, nil
	}
	cmd := exec.Command("bash", "hack/setup-envtest.sh")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/setup-envtest.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// one tests one mutation: stale check, baseline, then the mutated run.
func (r *runner) one(ctx context.Context, m Mutation) Result {
	res := Result{Name: m.Name}
	if err := checkStale(r.cfg.root, m); err != nil {
		res.Outcome, res.Detail = Stale, err.Error()
		return res
	}
	if r.cfg.baseline {
		if out, detail := r.baseline(ctx, m); out != Killed {
			res.Outcome, res.Detail = BaselineFailed, detail
			return res
		}
	}
	start := time.Now()
	res.Outcome, res.Detail = r.mutated(ctx, m)
	res.Elapsed = time.Since(start)
	return res
}

// baseline returns Killed when the unmutated tests pass (the mutated run can
// then be trusted), and another outcome with the reason otherwise.
func (r *runner) baseline(ctx context.Context, m Mutation) (Outcome, string) {
	b := r.baselines[selectionKey(m)]
	b.once.Do(func() {
		start := time.Now()
		v := goTest(ctx, r.testRun(m, ""))
		out, detail := judge(v)
		switch {
		case out == Survived && detail == "":
			b.outcome = Killed
		case out == Survived:
			b.outcome, b.detail = BaselineFailed, "unmutated: "+detail
		default:
			b.outcome, b.detail = BaselineFailed, "unmutated: "+string(out)+" "+detail
		}
		r.line("baseline %s: %.1f s %s", selectionKey(m), time.Since(start).Seconds(), b.detail)
	})
	return b.outcome, b.detail
}

// mutated runs the tests with the mutation in an overlay.
func (r *runner) mutated(ctx context.Context, m Mutation) (Outcome, string) {
	dir, err := os.MkdirTemp("", "mutate-")
	if err != nil {
		return Broken, err.Error()
	}
	defer os.RemoveAll(dir)
	ov, err := writeOverlay(dir, r.cfg.root, m)
	if err != nil {
		return Stale, err.Error()
	}
	return judge(goTest(ctx, r.testRun(m, filepath.Clean(ov))))
}

func (r *runner) testRun(m Mutation, overlay string) testRun {
	t := testRun{root: r.cfg.root, overlay: overlay, packages: m.Packages, run: m.Run, timeout: r.cfg.timeout}
	if m.Envtest {
		t.assets = r.assets
	}
	if m.Timeout > 0 {
		t.timeout = m.Timeout
	}
	return t
}

func (r *runner) report(res Result) {
	r.mu.Lock()
	r.done++
	n := r.done
	r.mu.Unlock()
	r.line("[%d/%d] %s %s %.1f s %s", n, r.total, res.Name, res.Outcome, res.Elapsed.Seconds(), res.Detail)
}

func (r *runner) line(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.progress, format+"\n", args...)
}
