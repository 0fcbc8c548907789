package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeDocumentsEveryFlag keeps the README's flag table in step with
// main.go: every flag the operator defines is documented.
func TestReadmeDocumentsEveryFlag(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?:flag|fs)\.(?:String|Bool|Int|Int64|Duration|Func)(?:Var)?\((?:&[^,]+, )?"([a-z0-9-]+)"`)
	names := re.FindAllStringSubmatch(string(src), -1)
	if len(names) < 20 {
		t.Fatalf("found only %d flags in main.go; the pattern is out of date", len(names))
	}
	for _, m := range names {
		if !strings.Contains(string(readme), "`--"+m[1]+"`") {
			t.Errorf("README.md does not document --%s", m[1])
		}
	}
}

// TestReadmeMakeTargetsExist checks that every `make X` the README mentions
// is a Makefile target.
func TestReadmeMakeTargetsExist(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("make ([a-z][a-z0-9-]*)").FindAllStringSubmatch(string(readme), -1) {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `:`).Match(makefile) {
			t.Errorf("README.md mentions `make %s`, which the Makefile does not define", m[1])
		}
	}
}

// TestDockerfileBuildsLikeMake keeps the image build on the flags `make build`
// uses.
func TestDockerfileBuildsLikeMake(t *testing.T) {
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^GO_BUILD_FLAGS \?= (.+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("no GO_BUILD_FLAGS in the Makefile")
	}
	if !strings.Contains(string(dockerfile), "CGO_ENABLED=0") || !strings.Contains(string(dockerfile), "go build "+string(m[1])) {
		t.Errorf("the Dockerfile does not build with CGO_ENABLED=0 and %s", m[1])
	}
	if !strings.Contains(string(dockerfile), "distroless/static:nonroot") {
		t.Error("the image is not distroless static non-root")
	}
}
