package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseList(t *testing.T) {
	const good = `# a comment
== one-line
checks: limits are enforced
file: a/b.go
packages: ./a ./b
run: ^TestX$
original: if n < 3 {
replace: if true {

== block/delete
file: c.go
packages: ./c
envtest: yes
timeout: 90s
original: ~~~
	if x {
		return
~~~
replace:
`
	got, err := ParseList(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mutation{
		{Name: "one-line", Checks: "limits are enforced", File: "a/b.go", Packages: []string{"./a", "./b"}, Run: "^TestX$", Original: "if n < 3 {", Replace: "if true {", Line: 2},
		{Name: "block/delete", File: "c.go", Packages: []string{"./c"}, Envtest: true, Timeout: 90 * time.Second, Original: "\tif x {\n\t\treturn", Replace: "", Line: 10},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !equalMutation(got[i], want[i]) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func equalMutation(a, b Mutation) bool {
	return a.Name == b.Name && a.Checks == b.Checks && a.File == b.File && strings.Join(a.Packages, " ") == strings.Join(b.Packages, " ") &&
		a.Run == b.Run && a.Envtest == b.Envtest && a.Timeout == b.Timeout && a.Original == b.Original && a.Replace == b.Replace && a.Line == b.Line
}

func TestParseListRejects(t *testing.T) {
	const entry = "file: a.go\npackages: ./a\noriginal: x\nreplace: y\n"
	for _, tc := range []struct{ name, list, want string }{
		{"field outside an entry", "file: a.go\n", "outside an entry"},
		{"unknown key", "== a\n" + entry + "tests: x\n", "unknown key"},
		{"no colon", "== a\n" + entry + "just words\n", "key: value"},
		{"duplicate name", "== a\n" + entry + "== a\n" + entry, "duplicate name"},
		{"bad name", "== A B\n" + entry, "name must be"},
		{"missing file", "== a\npackages: ./a\noriginal: x\n", "file must name"},
		{"not a go file", "== a\nfile: a.txt\npackages: ./a\noriginal: x\n", "file must name"},
		{"missing packages", "== a\nfile: a.go\noriginal: x\n", "packages is required"},
		{"missing original", "== a\nfile: a.go\npackages: ./a\n", "original is required"},
		{"replace equals original", "== a\nfile: a.go\npackages: ./a\noriginal: x\nreplace: x\n", "replace equals original"},
		{"unclosed block", "== a\nfile: a.go\npackages: ./a\noriginal: ~~~\nx\n", "not closed"},
		{"bad envtest", "== a\n" + entry + "envtest: maybe\n", "envtest is yes or no"},
		{"bad timeout", "== a\n" + entry + "timeout: soon\n", "timeout is a positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseList(strings.NewReader(tc.list))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestMutateStaleness(t *testing.T) {
	m := Mutation{File: "f.go", Original: "a < b", Replace: "true"}
	for _, tc := range []struct{ name, content, want, wantErr string }{
		{"once", "if a < b {}", "if true {}", ""},
		{"missing", "if a <= b {}", "", "not found"},
		{"twice", "a < b; a < b", "", "occurs 2 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mutate(tc.content, m)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("mutate = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestWriteOverlay(t *testing.T) {
	root, scratch := t.TempDir(), t.TempDir()
	orig := "package p\n\nfunc ok(n int) bool { return n < 3 }\n"
	if err := os.MkdirAll(filepath.Join(root, "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "p", "p.go"), []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	m := Mutation{File: "p/p.go", Original: "n < 3", Replace: "true"}
	path, err := writeOverlay(scratch, root, m)
	if err != nil {
		t.Fatal(err)
	}
	var ov overlay
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &ov); err != nil {
		t.Fatal(err)
	}
	src, ok := ov.Replace[filepath.Join(root, "p", "p.go")]
	if !ok || len(ov.Replace) != 1 {
		t.Fatalf("overlay = %s, want the absolute path of p/p.go only", b)
	}
	if got, _ := os.ReadFile(src); string(got) != strings.Replace(orig, "n < 3", "true", 1) {
		t.Fatalf("mutated file = %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "p", "p.go")); string(got) != orig {
		t.Fatal("the original file was changed")
	}
	m.Original = "n > 3"
	if _, err := writeOverlay(scratch, root, m); err == nil {
		t.Fatal("a stale entry wrote an overlay")
	}
}

func TestJudge(t *testing.T) {
	const pkg = `"Package":"github.com/tokenwarden/tokenwarden/internal/x"`
	for _, tc := range []struct {
		name, events string
		exitOK       bool
		want         Outcome
		detail       string
	}{
		{"a subtest failed", `{"Action":"pass",` + pkg + `,"Test":"TestA"}
{"Action":"fail",` + pkg + `,"Test":"TestB/case"}
{"Action":"fail",` + pkg + `,"Test":"TestB"}
{"Action":"fail",` + pkg + `}`, false, Killed, "internal/x.TestB/case"},
		{"two tests failed", `{"Action":"fail",` + pkg + `,"Test":"TestB"}
{"Action":"fail",` + pkg + `,"Test":"TestC"}`, false, Killed, "internal/x.TestB (+1 more)"},
		{"everything passed", `{"Action":"pass",` + pkg + `,"Test":"TestA"}
{"Action":"pass",` + pkg + `}`, true, Survived, ""},
		{"no test ran", `{"Action":"output",` + pkg + `,"Output":"testing: warning: no tests to run\n"}
{"Action":"pass",` + pkg + `}`, true, Survived, "no test ran (check run:)"},
		{"build failed", `{"ImportPath":"x","Action":"build-output","Output":"# x\n"}
{"ImportPath":"x","Action":"build-output","Output":"x.go:1: undefined: y\n"}
{"ImportPath":"x","Action":"build-output","Output":"\twant (int)\n"}
{"ImportPath":"x","Action":"build-fail"}
{"Action":"fail",` + pkg + `}`, false, Broken, "does not build: x.go:1: undefined: y"},
		{"TestMain failed", `{"Action":"output",` + pkg + `,"Output":"envtest: no assets\n"}
{"Action":"fail",` + pkg + `}`, false, Killed, "package internal/x failed outside a test"},
		{"not JSON", "panic: go command crashed", false, Broken, "go test failed: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := readEvents(strings.NewReader(tc.events))
			v.exitOK = tc.exitOK
			got, detail := judge(v)
			if got != tc.want || detail != tc.detail {
				t.Fatalf("judge = %s %q, want %s %q", got, detail, tc.want, tc.detail)
			}
		})
	}
}

// TestCheckedInListIsCurrent fails when code moved under an entry: fix the
// entry in mutations.txt with the code.
func TestCheckedInListIsCurrent(t *testing.T) {
	f, err := os.Open("mutations.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	muts, err := ParseList(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range muts {
		if err := checkStale("../..", m); err != nil {
			t.Errorf("hack/mutate/mutations.txt entry %q is stale: %v", m.Name, err)
		}
	}
}

// TestRunEndToEnd runs the command on a tiny module: one mutation its test
// kills, one it misses, one stale; two at a time.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs go test")
	}
	root := t.TempDir()
	files := map[string]string{
		"go.mod":    "module example.com/m\n\ngo 1.21\n",
		"m.go":      "package m\n\n// Allow is true below three.\nfunc Allow(n int) bool { return n < 3 }\n",
		"m_test.go": "package m\n\nimport \"testing\"\n\nfunc TestAllow(t *testing.T) {\n\tif Allow(5) {\n\t\tt.Fatal(\"5 allowed\")\n\t}\n}\n",
		"list.txt": "== killed\nfile: m.go\npackages: .\noriginal: n < 3\nreplace: true\n\n" +
			"== survived\nfile: m.go\npackages: .\noriginal: n < 3\nreplace: n < 4\n\n" +
			"== stale\nfile: m.go\npackages: .\noriginal: n <= 3\nreplace: true\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out, progress bytes.Buffer
	code := run(context.Background(), []string{"-root", root, "-file", "list.txt", "-j", "2"}, &out, &progress)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out.String(), progress.String())
	}
	rows := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			rows[f[0]] = strings.Join(f[1:], " ")
		}
	}
	if !strings.HasPrefix(rows["killed"], "killed") || !strings.HasSuffix(rows["killed"], "example.com/m.TestAllow") ||
		!strings.HasPrefix(rows["survived"], "SURVIVED") || !strings.HasPrefix(rows["stale"], "STALE") {
		t.Errorf("rows = %q", rows)
	}
	for _, want := range []string{"1 killed, 1 survived, 1 stale"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"-root", root, "-file", "list.txt", "-only", "^killed$"}, &out, &progress); code != 0 {
		t.Fatalf("-only killed: exit %d\n%s", code, out.String())
	}
}
