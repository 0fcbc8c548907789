// Command mutate checks that every security check of Tokenwarden is pinned by
// a test: it disables each check listed in mutations.txt, one at a time, by
// the smallest change, runs the tests named for it, and fails unless a test
// fails ("killed"). A mutation that no test notices ("SURVIVED") is a check
// that could be deleted by accident and nobody would know.
//
//	go run ./hack/mutate                 # every entry, one at a time
//	go run ./hack/mutate -only 'pkce|csrf' -j 2
//	go run ./hack/mutate -list           # entries and staleness, runs nothing
//
// The working tree is never written: the mutated file is handed to go test
// with -overlay. An entry whose original snippet does not occur exactly once
// in its file is STALE, so the list is fixed whenever the code moves. Before
// the mutations, each distinct test selection runs once unmutated (disable
// with -baseline=false), so a test that fails anyway cannot pass for a kill.
//
// Exit status: 0 when every selected mutation was killed, 1 otherwise, 2 on
// bad flags or an unreadable list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
)

// config is the command line.
type config struct {
	root, list string
	only       *regexp.Regexp
	listOnly   bool
	jobs       int
	baseline   bool
	timeout    time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	if cfg.root, err = moduleRoot(cfg.root); err != nil {
		fmt.Fprintln(stderr, "mutate:", err)
		return 2
	}
	muts, err := loadList(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "mutate:", err)
		return 2
	}
	if cfg.listOnly {
		return printList(stdout, cfg.root, muts)
	}
	start := time.Now()
	results, err := execute(ctx, cfg, muts, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "mutate:", err)
		return 2
	}
	if !printTable(stdout, results, time.Since(start)) {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("mutate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	only := fs.String("only", "", "run only entries whose name matches this regexp")
	fs.StringVar(&cfg.root, "root", "", "module root (default: the module of the working directory)")
	fs.StringVar(&cfg.list, "file", "hack/mutate/mutations.txt", "the list, relative to the module root")
	fs.BoolVar(&cfg.listOnly, "list", false, "print the entries and whether each is stale; run nothing")
	fs.IntVar(&cfg.jobs, "j", 1, "mutations tested in parallel")
	fs.BoolVar(&cfg.baseline, "baseline", true, "run each test selection once unmutated first")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "go test -timeout for each run")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	if cfg.only, err = regexp.Compile(*only); err != nil {
		fmt.Fprintln(stderr, "mutate: -only:", err)
		return cfg, err
	}
	if cfg.jobs < 1 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "mutate: -j must be at least 1, and no arguments are taken")
		return cfg, errors.New("bad flags")
	}
	return cfg, nil
}

// moduleRoot returns the given root, or the module of the working directory.
func moduleRoot(given string) (string, error) {
	if given != "" {
		return filepath.Abs(given)
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module; pass -root")
	}
	return filepath.Dir(gomod), nil
}

// loadList reads the list and keeps the -only entries.
func loadList(cfg config) ([]Mutation, error) {
	f, err := os.Open(filepath.Join(cfg.root, cfg.list))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := ParseList(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.list, err)
	}
	var out []Mutation
	for _, m := range all {
		if cfg.only.MatchString(m.Name) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no entry matches -only %q", cfg.only)
	}
	return out, nil
}

// printList shows the entries and their staleness; 1 when any is stale.
func printList(w io.Writer, root string, muts []Mutation) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFILE\tPACKAGES\tRUN\tSTATE")
	code := 0
	for _, m := range muts {
		state := "ok"
		if err := checkStale(root, m); err != nil {
			state, code = "STALE: "+err.Error(), 1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.File, strings.Join(m.Packages, " "), m.Run, state)
	}
	tw.Flush()
	return code
}

// checkStale says why the entry no longer applies, or nil.
func checkStale(root string, m Mutation) error {
	b, err := os.ReadFile(filepath.Join(root, m.File))
	if err != nil {
		return fmt.Errorf("read %s: %w", m.File, err)
	}
	_, err = mutate(string(b), m)
	return err
}

// printTable writes the results and a summary; false when any mutation was
// not killed.
func printTable(w io.Writer, results []Result, total time.Duration) bool {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tRESULT\tSECONDS\tFAILED TEST / DETAIL")
	counts := map[Outcome]int{}
	for _, r := range results {
		counts[r.Outcome]++
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\n", r.Name, r.Outcome, r.Elapsed.Seconds(), r.Detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d mutations: %d killed, %d survived, %d stale, %d broken, %d baseline failed; %.0f s in all\n",
		len(results), counts[Killed], counts[Survived], counts[Stale], counts[Broken], counts[BaselineFailed], total.Seconds())
	return counts[Killed] == len(results)
}
