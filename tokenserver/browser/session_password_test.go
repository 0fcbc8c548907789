package browser_test

import (
	"context"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// changePassword gives user u a new plaintext password and raises its
// status.passwordGeneration, as the OAuthUser controller does on a change.
func changePassword(t *testing.T, u *v1alpha1.OAuthUser, password string) {
	t.Helper()
	cur, err := h.Mem.Directory.UserByUID(context.Background(), u.Namespace, u.UID)
	if err != nil {
		t.Fatal(err)
	}
	cur.Object.Status.PasswordGeneration++
	h.Mem.Directory.PutUser(cur.Object, password, "")
}

// TestPasswordChangeEndsSessions: a session signed in before the user's
// password changed no longer signs the user in, also when its cookie is
// replayed later; a session signed in with the new password works, and
// another user's session is untouched.
func TestPasswordChangeEndsSessions(t *testing.T) {
	f := newFixture(t)
	cfg := codeClient(f, "app", "http://127.0.0.1:8080/callback")
	alice, pw := f.User("alice", v1alpha1.OAuthUserSpec{})
	_, bobPW := f.User("bob", v1alpha1.OAuthUserSpec{})
	authURL := func() string { return cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())) }
	b, bob := newBrowser(t), newBrowser(t)
	b.SignIn(issuer, authURL(), "alice", pw)
	bob.SignIn(issuer, authURL(), "bob", bobPW)
	oldCookie := b.Cookie(issuer, "tw_session")
	wantSignedIn(t, b, cfg, true)

	changePassword(t, alice, "a-new-password-for-alice")
	wantSignedIn(t, b, cfg, false)
	wantSignedIn(t, bob, cfg, true)

	b.SignIn(issuer, authURL(), "alice", "a-new-password-for-alice")
	wantSignedIn(t, b, cfg, true)
	replay := newBrowser(t)
	replay.SetCookie(issuer, "tw_session", oldCookie)
	wantSignedIn(t, replay, cfg, false)
}
