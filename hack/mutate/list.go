package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Mutation is one entry of the list: a security check disabled by the
// smallest change, and the tests that must notice.
type Mutation struct {
	// Name identifies the entry in the table and for -only.
	Name string
	// Checks says in one sentence what the original code enforces.
	Checks string
	// File is the Go file to mutate, relative to the module root.
	File string
	// Original must occur exactly once in File; Replace takes its place.
	Original, Replace string
	// Packages are the go test patterns whose tests must fail.
	Packages []string
	// Run is an optional go test -run regexp.
	Run string
	// Envtest says the packages need KUBEBUILDER_ASSETS.
	Envtest bool
	// Timeout, when set, replaces -timeout for this entry: a mutation that
	// makes a test hang should fail fast.
	Timeout time.Duration
	// Line is where the entry starts in the list, for error messages.
	Line int
}

// fence opens and closes a multi-line snippet.
const fence = "~~~"

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9./_-]*$`)

// listParser reads the list line by line.
type listParser struct {
	sc   *bufio.Scanner
	line int
	out  []Mutation
	cur  *Mutation
}

// ParseList reads the list format (see mutations.txt): an entry starts with
// "== name", followed by "key: value" lines; original and replace take a
// one-line value, or a block between two "~~~" lines when the value is empty.
// Lines starting with "#" and blank lines between fields are ignored.
func ParseList(r io.Reader) ([]Mutation, error) {
	p := &listParser{sc: bufio.NewScanner(r)}
	p.sc.Buffer(make([]byte, 64<<10), 1<<20)
	for p.next() {
		text := p.sc.Text()
		if err := p.parseLine(text); err != nil {
			return nil, fmt.Errorf("line %d: %w", p.line, err)
		}
	}
	if err := p.sc.Err(); err != nil {
		return nil, fmt.Errorf("read list: %w", err)
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.out, nil
}

func (p *listParser) next() bool {
	ok := p.sc.Scan()
	if ok {
		p.line++
	}
	return ok
}

func (p *listParser) parseLine(text string) error {
	trimmed := strings.TrimSpace(text)
	switch {
	case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		return nil
	case strings.HasPrefix(text, "== "):
		if err := p.finish(); err != nil {
			return err
		}
		p.cur = &Mutation{Name: strings.TrimSpace(text[3:]), Line: p.line}
		return nil
	case p.cur == nil:
		return fmt.Errorf("%q outside an entry (start one with \"== name\")", trimmed)
	}
	key, value, ok := strings.Cut(text, ":")
	if !ok {
		return fmt.Errorf("want \"key: value\", got %q", text)
	}
	return p.setField(strings.TrimSpace(key), strings.TrimPrefix(value, " "))
}

func (p *listParser) setField(key, value string) error {
	m := p.cur
	switch key {
	case "checks":
		m.Checks = value
	case "file":
		m.File = value
	case "packages":
		m.Packages = strings.Fields(value)
	case "run":
		m.Run = value
	case "envtest":
		if value != "yes" && value != "no" {
			return fmt.Errorf("envtest is yes or no, got %q", value)
		}
		m.Envtest = value == "yes"
	case "timeout":
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return fmt.Errorf("timeout is a positive Go duration, got %q", value)
		}
		m.Timeout = d
	case "original", "replace":
		snippet, err := p.snippet(value)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if key == "original" {
			m.Original = snippet
		} else {
			m.Replace = snippet
		}
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	return nil
}

// snippet returns a one-line value as it is, or reads a fenced block when the
// value is "~~~". An empty replace is a deletion.
func (p *listParser) snippet(value string) (string, error) {
	if strings.TrimSpace(value) != fence {
		return value, nil
	}
	var lines []string
	for p.next() {
		if strings.TrimSpace(p.sc.Text()) == fence {
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, p.sc.Text())
	}
	return "", fmt.Errorf("block not closed with %q", fence)
}

// finish validates the current entry and appends it.
func (p *listParser) finish() error {
	m := p.cur
	if m == nil {
		return nil
	}
	p.cur = nil
	var problem string
	switch {
	case !validName.MatchString(m.Name):
		problem = "name must be lower case letters, digits and . / _ -"
	case m.File == "" || !strings.HasSuffix(m.File, ".go"):
		problem = "file must name a .go file"
	case len(m.Packages) == 0:
		problem = "packages is required"
	case m.Original == "":
		problem = "original is required"
	case m.Original == m.Replace:
		problem = "replace equals original"
	}
	for _, o := range p.out {
		if o.Name == m.Name {
			problem = "duplicate name"
		}
	}
	if problem != "" {
		return fmt.Errorf("entry %q at line %d: %s", m.Name, m.Line, problem)
	}
	p.out = append(p.out, *m)
	return nil
}
