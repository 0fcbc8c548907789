package tokenserver_test

// Attacker's tests of the token endpoint's request parsing (issue 12): a
// parameter given twice never lets one value silently win, and a body a
// cross-origin page can send without a CORS preflight never reaches a grant.

import (
	"testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/testhttp"
)

func TestTokenRefusesRepeatedJSONKeysAndSimpleRequestTypes(t *testing.T) {
	f := newFixture(t)
	id, secret := f.Client("svc", v1alpha1.OAuthClientSpec{Scopes: []string{"read", "admin"}})
	basic := testhttp.Basic(id, secret)
	for _, c := range []struct{ name, contentType, body string }{
		{"scope twice in JSON", "application/json", `{"grant_type":"client_credentials","scope":"read","scope":"admin"}`},
		{"scope twice in JSON declared as a form", formType, `{"grant_type":"client_credentials","scope":"read","scope":"admin"}`},
		{"grant_type twice in JSON, once escaped", "application/json", `{"grant_type":"password","grant_typ\u0065":"client_credentials"}`},
		{"form as text/plain", "text/plain", form("grant_type", "client_credentials")},
		{"JSON as text/plain", "text/plain; charset=utf-8", `{"grant_type":"client_credentials"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			rqWantError(t, post(t, "/oauth/token", c.contentType, c.body, "Authorization", basic), 400, "invalid_request")
		})
	}
	t.Run("JSON declared as a form still works", func(t *testing.T) {
		body, _ := rqWantToken(t, post(t, "/oauth/token", formType, `{"grant_type":"client_credentials","scope":"read"}`, "Authorization", basic))
		if body["scope"] != "read" {
			t.Fatalf("scope %v, want read", body["scope"])
		}
	})
	t.Run("a form declared as JSON still works", func(t *testing.T) {
		rqWantToken(t, post(t, "/oauth/token", "application/json", form("grant_type", "client_credentials", "scope", "read"), "Authorization", basic))
	})
}
