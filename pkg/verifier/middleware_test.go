package verifier_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenwarden/tokenwarden/pkg/verifier"
)

func TestMiddleware(t *testing.T) {
	iss := newIssuer(t)
	v := newVerifier(t, iss, nil)
	whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := verifier.ClaimsFromContext(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s", c.ClientID, c.Scope)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /read", v.Require("invoices.read")(whoami))
	mux.Handle("GET /write", v.Require("invoices.read", "invoices.write")(whoami))
	valid := iss.sign(iss.claims(epoch), "at+jwt")
	realm := fmt.Sprintf("realm=%q", iss.URL)

	tests := []struct {
		name          string
		path, auth    string
		status        int
		wantChallenge string // substring of WWW-Authenticate; "" means absent
		noError       bool   // the challenge must carry no error code
		body          string
	}{
		{"valid", "/read", "Bearer " + valid, 200, "", false, "shop.billing invoices.read"},
		{"scheme is case-insensitive", "/read", "bearer " + valid, 200, "", false, "shop.billing invoices.read"},
		{"no token", "/read", "", 401, "Bearer " + realm, true, ""},
		{"another scheme", "/read", "Basic YTpi", 401, "Bearer " + realm, true, ""},
		{"invalid token", "/read", "Bearer " + unsigned(iss.claims(epoch)), 401, `error="invalid_token"`, false, ""},
		{"id_token", "/read", "Bearer " + iss.sign(iss.claims(epoch), "JWT"), 401, `error="invalid_token"`, false, ""},
		{"missing scope", "/write", "Bearer " + valid, 403, `error="insufficient_scope", error_description="the token lacks a scope this request requires", scope="invoices.read invoices.write"`, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			got := w.Header().Get("WWW-Authenticate")
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			if tt.wantChallenge == "" && got != "" || !strings.Contains(got, tt.wantChallenge) {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if tt.noError && strings.Contains(got, "error=") {
				t.Errorf("WWW-Authenticate = %q carries an error code for a request without a token (RFC 6750 §3.1)", got)
			}
			if tt.body != "" && w.Body.String() != tt.body {
				t.Errorf("body = %q, want %q", w.Body, tt.body)
			}
		})
	}
}
