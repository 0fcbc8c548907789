package contract

import (
	"slices"
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
