package contract

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

func TestParseTokenPath(t *testing.T) {
	p, err := ParseTokenPath("/api/v4/connect/token;errors=detail;issued-at=omit;user=usergrid;claimable=resgrid,ops")
	if err != nil {
		t.Fatal(err)
	}
	if p.Path != "/api/v4/connect/token" || p.Template || p.ErrorStyle != v1alpha1.ErrorStyleDetail || p.IssuedAt != v1alpha1.IssuedAtOmit ||
		p.UserObject != v1alpha1.UserObjectUsergrid || !slices.Equal(p.Claimable, []string{"resgrid", "ops"}) {
		t.Fatalf("parsed %+v", p)
	}
	for ns, want := range map[string]bool{"resgrid": true, "ops": true, "other": false, "": false} {
		if p.MayClaim(ns) != want {
			t.Errorf("MayClaim(%q) = %v", ns, !want)
		}
	}
	tmpl, err := ParseTokenPath("/{namespace}/{name}/token")
	if err != nil || !tmpl.Template || tmpl.MayClaim("any") {
		t.Fatalf("template %+v, %v", tmpl, err)
	}
	any, err := ParseTokenPath("/management/token;claimable=*")
	if err != nil || !any.MayClaim("whatever") {
		t.Fatalf("claimable=*: %+v, %v", any, err)
	}
	plain, err := ParseTokenPath("/token")
	if err != nil || plain.MayClaim("x") || plain.ErrorStyle != "" {
		t.Fatalf("plain: %+v, %v", plain, err)
	}
	for _, bad := range []string{"", "/", "token", "/a/", "/a b", "/a%2Fb", "/{namespace}", "/{name}/{namespace}/{name}",
		"/x{name}/{namespace}", "/{namespace}/{name};claimable=x", "/t;errors=", "/t;claimable=a b", "/t;claimable=a,,b", "/t;nope"} {
		if _, err := ParseTokenPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseTokenPath: whatever ParseTokenPath accepts, http.ServeMux takes as
// a pattern (no panic at start) and, for a template, names exactly the
// request's namespace and name; a path it refuses never reaches the mux.
func FuzzParseTokenPath(f *testing.F) {
	for _, s := range []string{"/token", "/{namespace}/{name}/token", "/api/v4/connect/token;claimable=a,b;errors=detail",
		"/{name}", "/a/{$}", "/a/{name...}", "/a/./b", "GET /token", "/x;user=usergrid;issued-at=omit", "/{namespace}/x/{name}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseTokenPath(s)
		if err != nil {
			return
		}
		mux := http.NewServeMux()
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("%q accepted, but the mux refuses it: %v", s, v)
				}
			}()
			mux.HandleFunc(p.Path, func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(r.PathValue("namespace") + "/" + r.PathValue("name")))
			})
		}()
		if !p.Template {
			return
		}
		path := strings.NewReplacer("{namespace}", "ns1", "{name}", "app1").Replace(p.Path)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "http://x"+path, nil))
		if rec.Body.String() != "ns1/app1" {
			t.Fatalf("template %q on %q resolved %q", p.Path, path, rec.Body.String())
		}
	})
}
