package tenancy_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// authURL is an authorization request of a public client with PKCE.
func authURL(id, redirect, scope string, extra ...string) string {
	v := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {redirect}, "scope": {scope},
		"state": {"st"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return issuer + "/oauth/authorize?" + v.Encode()
}

// Attack 4: a public client the attacker registered, with a redirect URI it
// controls and the scopes it wants, sends a signed-in user a link with
// prompt=none. Without the user's consent that is consent_required and no
// code; without prompt the user sees the consent page, not a redirect with a
// code; prompt=consent always shows it.
func TestAttackPromptNoneWithoutConsent(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// The platform vouches for the namespace's sign-in portal, which skips
	// consent; the attacker cannot edit Namespaces.
	patch := []byte(`{"metadata":{"annotations":{"tokenwarden.dev/first-party-clients":"portal"}}}`)
	if err := env.Client.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.evil}}, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("carol's password"), 4)
	if err != nil {
		t.Fatal(err)
	}
	newUser(t, env.Client, w.evil, "carol", v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{Hash: string(h)}})
	portalRedirect := "http://127.0.0.1:9/portal"
	portal, _ := newClient(t, env.Client, w.evil, "portal", v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode}, Scopes: []string{"openid"}, RedirectURIs: []string{portalRedirect},
	})
	steal := "http://127.0.0.1:9/steal"
	evilID, _ := newClient(t, w.attacker, w.evil, "helpful-app", v1alpha1.OAuthClientSpec{
		Public: true, DisplayName: "Helpful App", RedirectURIs: []string{steal},
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantAuthorizationCode, v1alpha1.GrantRefreshToken},
		Scopes:     []string{"openid", "profile", "email", "offline_access"},
	})

	// The first-party portal's sign-in shows no consent page: the login
	// answers with the redirect to it.
	b := servertest.NewBrowser(t)
	if back := servertest.WantRedirect(t, b.Login(issuer, authURL(portal, portalRedirect, "openid"), "carol", "carol's password")); back.Query().Get("code") == "" {
		t.Fatalf("the first-party portal's sign-in: %v, want a code", back)
	}

	p := b.Get(authURL(evilID, steal, "openid profile email offline_access", "prompt", "none"))
	if p.Location == nil || !strings.HasPrefix(p.Location.String(), steal) {
		t.Fatalf("prompt=none: %d %v, want a redirect to the client with an error", p.Status, p.Location)
	}
	q := p.Location.Query()
	if q.Get("error") != "consent_required" || q.Has("code") || q.Get("state") != "st" {
		t.Fatalf("prompt=none without consent: %v, want error=consent_required, the state and no code", q)
	}
	for _, extra := range [][]string{nil, {"prompt", "consent"}} {
		p := b.Get(authURL(evilID, steal, "openid offline_access", extra...))
		if p.Status != http.StatusOK || p.Location != nil || !strings.Contains(p.Body, "Helpful App") {
			t.Fatalf("authorize %v: %d %v, want the consent page naming the client\n%s", extra, p.Status, p.Location, p.Body)
		}
	}
}
