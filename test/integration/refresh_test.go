package integration_test

// Refresh-token families and sessions where the cluster matters: the family
// Secret's stored form and labels; the instant after a
// revocation, before the manager's cache saw it; two replicas racing on one
// token through the API server; and what the controllers do when a user is
// disabled or deleted, or a client deleted. The protocol behaviour of the
// same features is tested over the in-memory stores in tokenserver.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
	"github.com/tokenwarden/tokenwarden/tokenserver"
)

// rfSpec is a client that may use the password grant and refresh tokens.
func rfSpec(scopes ...string) v1alpha1.OAuthClientSpec {
	return v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Scopes:     scopes,
	}
}

// rfDo sends req with hc and returns the answer without failing the test, so
// it can be used from several goroutines.
func rfDo(hc *http.Client, req *http.Request) (response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r, nil
}

func rfSend(hc *http.Client, base, path, body string) (response, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", formType)
	return rfDo(hc, req)
}

// rfPost posts a form to base+path.
func rfPost(t testing.TB, base, path, body string) response {
	t.Helper()
	r, err := rfSend(http.DefaultClient, base, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rfPassword(t testing.TB, base, id, secret, username, pw, scope string) response {
	t.Helper()
	kv := []string{"grant_type", "password", "username", username, "password", pw, "client_id", id, "client_secret", secret}
	if scope != "" {
		kv = append(kv, "scope", scope)
	}
	return rfPost(t, base, "/oauth/token", form(kv...))
}

func rfRefresh(t testing.TB, base, id, secret, rt string, kv ...string) response {
	t.Helper()
	return rfPost(t, base, "/oauth/token", form(append([]string{"grant_type", "refresh_token", "refresh_token", rt, "client_id", id, "client_secret", secret}, kv...)...))
}

// rfOK fails unless r is a successful token response with a refresh token,
// and returns the refresh token.
func rfOK(t testing.TB, r response, what string) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d, body %s", what, r.status, r.raw)
	}
	rt, _ := r.body["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("%s: no refresh_token in %s", what, r.raw)
	}
	if at, _ := r.body["access_token"].(string); at == "" {
		t.Fatalf("%s: no access_token in %s", what, r.raw)
	}
	return rt
}

// rfErr fails unless r is the OAuth error code with the status.
func rfErr(t testing.TB, r response, status int, code, what string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Fatalf("%s: got status %d body %s, want %d %s", what, r.status, r.raw, status, code)
	}
}

func rfIntrospect(t testing.TB, base, id, secret, tok string) map[string]any {
	t.Helper()
	r := rfPost(t, base, "/oauth/introspect", form("token", tok, "client_id", id, "client_secret", secret))
	if r.status != http.StatusOK {
		t.Fatalf("introspect: status %d body %s", r.status, r.raw)
	}
	return r.body
}

// rfTokenParts splits a refresh token "twr_<family>_<secret>".
func rfTokenParts(t testing.TB, rt string) (family, secret string) {
	t.Helper()
	rest, ok := strings.CutPrefix(rt, "twr_")
	if ok {
		family, secret, ok = strings.Cut(rest, "_")
	}
	if !ok {
		t.Fatalf("refresh token %q is not twr_<family>_<secret>", rt)
	}
	return family, secret
}

func rfFamilyKey(t testing.TB, ns, rt string) client.ObjectKey {
	t.Helper()
	fam, _ := rfTokenParts(t, rt)
	return client.ObjectKey{Namespace: operatorNamespace, Name: kubestore.RecordName(kubestore.FamilySecretPrefix, ns, fam)}
}

// rfFamilySecret reads the family Secret of rt from the API server.
func rfFamilySecret(t testing.TB, ns, rt string) (*corev1.Secret, error) {
	t.Helper()
	var s corev1.Secret
	err := env.Client.Get(context.Background(), rfFamilyKey(t, ns, rt), &s)
	return &s, err
}

// rfSyncCache waits until the manager's cache holds the family Secret of rt
// as the API server does (same resourceVersion, or gone from both), so that
// reads answered from the cache (introspection) see the latest rotation.
func rfSyncCache(t testing.TB, ns, rt string) {
	t.Helper()
	key := rfFamilyKey(t, ns, rt)
	eventually(t, func() error {
		var live, cached corev1.Secret
		lerr := mgr.GetAPIReader().Get(context.Background(), key, &live)
		cerr := mgr.GetClient().Get(context.Background(), key, &cached)
		switch {
		case apierrors.IsNotFound(lerr) && apierrors.IsNotFound(cerr):
			return nil
		case lerr != nil || cerr != nil:
			return fmt.Errorf("live %v, cached %v", lerr, cerr)
		case live.ResourceVersion != cached.ResourceVersion:
			return fmt.Errorf("cache at %s, API server at %s", cached.ResourceVersion, live.ResourceVersion)
		}
		return nil
	}).Should(gomega.Succeed())
}

// rfFakeServer starts a token server with a fake clock.
func rfFakeServer(t testing.TB, o tokenserver.Options) (string, *clocktesting.FakeClock) {
	t.Helper()
	fc := clocktesting.NewFakeClock(time.Now())
	o.Clock = fc
	return startServer(t, o), fc
}

// rfWaitCached waits until the manager's cache (what the token server reads)
// satisfies ok for obj's key; ok gets nil when the object is gone.
func rfWaitCached[T client.Object](t testing.TB, obj T, newObj func() T, ok func(T) bool) {
	t.Helper()
	eventually(t, func() bool {
		o := newObj()
		err := mgr.GetClient().Get(context.Background(), client.ObjectKeyFromObject(obj), o)
		if apierrors.IsNotFound(err) {
			var zero T
			return ok(zero)
		}
		return err == nil && ok(o)
	}).Should(gomega.BeTrue())
}

// Every use of a refresh token returns a new one, which works; the cluster
// keeps only digests.
func TestRefreshRotation(t *testing.T) {
	f := newFixture(t)
	id, secret := f.client("app", rfSpec("orders.read"))
	_, pw := f.user("alice", v1alpha1.OAuthUserSpec{})

	r := rfPassword(t, issuer, id, secret, "alice", pw, "")
	cur := rfOK(t, r, "password grant")
	issued := []string{cur}
	accessTokens := []string{r.body["access_token"].(string)}
	for i := 1; i <= 3; i++ {
		r := rfRefresh(t, issuer, id, secret, cur)
		next := rfOK(t, r, fmt.Sprintf("refresh %d", i))
		if slices.Contains(issued, next) {
			t.Fatalf("refresh %d returned a refresh token already issued", i)
		}
		at := r.body["access_token"].(string)
		if slices.Contains(accessTokens, at) {
			t.Fatalf("refresh %d returned an access token already issued", i)
		}
		if r.body["token_type"] != "Bearer" || r.body["scope"] != "orders.read" {
			t.Fatalf("refresh %d: %s", i, r.raw)
		}
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
			t.Fatalf("refresh %d: caching headers %v", i, r.header)
		}
		issued, accessTokens, cur = append(issued, next), append(accessTokens, at), next
	}

	// One family, in the operator namespace (none in the client's, where
	// the tenant could write), labelled with the client's namespace,
	// holding no plaintext.
	var list corev1.SecretList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(f.ns), client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily}); err != nil || len(list.Items) != 0 {
		t.Fatalf("%d refresh-family Secrets in the client namespace, want none (%v)", len(list.Items), err)
	}
	if err := env.Client.List(context.Background(), &list, client.InNamespace(operatorNamespace),
		client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily, contract.LabelRecordNamespace: f.ns}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d refresh-family Secrets of the client namespace, want 1 (rotation stays in one family)", len(list.Items))
	}
	s := list.Items[0]
	if want := rfFamilyKey(t, f.ns, cur).Name; s.Name != want {
		t.Fatalf("family Secret %s, want %s", s.Name, want)
	}
	if s.Labels[contract.LabelFamilyClient] != "app" {
		t.Fatalf("family labels %v: want %s=app", s.Labels, contract.LabelFamilyClient)
	}
	var all []byte
	for k, v := range s.Data {
		all = append(all, k...)
		all = append(all, v...)
	}
	for k, v := range s.StringData {
		all = append(all, k+v...)
	}
	for k, v := range s.Annotations {
		all = append(all, k+v...)
	}
	for _, tok := range issued {
		_, sec := rfTokenParts(t, tok)
		for _, plain := range []string{tok, sec, base64.StdEncoding.EncodeToString([]byte(sec)), base64.RawURLEncoding.EncodeToString([]byte(sec))} {
			if bytes.Contains(all, []byte(plain)) {
				t.Fatalf("the family Secret holds a refresh token in plaintext: %q", s.Data)
			}
		}
	}
	// What it holds for the current token is a SHA-256 digest.
	_, sec := rfTokenParts(t, cur)
	d1, d2 := sha256.Sum256([]byte(sec)), sha256.Sum256([]byte(cur))
	if !bytes.Contains(all, []byte(hex.EncodeToString(d1[:]))) && !bytes.Contains(all, []byte(hex.EncodeToString(d2[:]))) {
		t.Fatalf("the family Secret holds no SHA-256 digest of the current token: %s", s.Data[kubestore.FamilyDataKey])
	}
}

type rfOutcome struct {
	server string
	resp   response
	err    error
}

// rfRace fires n concurrent refreshes of rt, alternating between the servers,
// released together.
func rfRace(servers []string, id, secret, rt string, n int) []rfOutcome {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	out := make([]rfOutcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			base := servers[i%len(servers)]
			<-start
			r, err := rfSend(hc, base, "/oauth/token", form("grant_type", "refresh_token", "refresh_token", rt, "client_id", id, "client_secret", secret))
			out[i] = rfOutcome{server: base, resp: r, err: err}
		}(i)
	}
	close(start)
	wg.Wait()
	return out
}

// rfTally sorts the answers of a race: the successors handed out, the
// invalid_grant refusals, server errors, and anything else.
type rfTally struct {
	successors, serverErrors, other []string
	refused                         int
}

func rfCount(t *testing.T, outs []rfOutcome) rfTally {
	t.Helper()
	var c rfTally
	for _, o := range outs {
		switch {
		case o.err != nil:
			c.other = append(c.other, o.err.Error())
		case o.resp.status == 200:
			next := rfOK(t, o.resp, "racer")
			if slices.Contains(c.successors, next) {
				t.Fatal("the same successor was handed out twice")
			}
			c.successors = append(c.successors, next)
		case o.resp.status == 400 && o.resp.body["error"] == "invalid_grant":
			c.refused++
		case o.resp.status >= 500:
			c.serverErrors = append(c.serverErrors, fmt.Sprintf("%s: %d %s", o.server, o.resp.status, o.resp.raw))
		default:
			c.other = append(c.other, fmt.Sprintf("%s: %d %s", o.server, o.resp.status, o.resp.raw))
		}
	}
	if len(c.other) > 0 {
		t.Fatalf("answers that are neither a token nor invalid_grant: %v", c.other)
	}
	return c
}

// Two replicas over the same API server receive the same refresh token at
// once, outside any grace window: exactly one request gets a successor, the
// others are replays and revoke the family, so no successor stays valid.
// (Server errors among the losers are TestRefreshConcurrentUseNeverServerError.)
func TestRefreshRaceTwoReplicas(t *testing.T) {
	f := newFixture(t)
	id, secret := f.client("app", rfSpec("orders.read"))
	_, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	// RefreshGrace 0 means "default" (10s) in Options, so the smallest
	// positive value stands for "no grace".
	servers := []string{
		startServer(t, tokenserver.Options{RefreshGrace: time.Nanosecond}),
		startServer(t, tokenserver.Options{RefreshGrace: time.Nanosecond}),
	}
	const n, rounds = 10, 4
	for round := 1; round <= rounds; round++ {
		rt := rfOK(t, rfPassword(t, servers[0], id, secret, "alice", pw, ""), "password grant")
		c := rfCount(t, rfRace(servers, id, secret, rt, n))
		if len(c.successors) != 1 {
			t.Fatalf("round %d: %d requests got a successor, want exactly 1", round, len(c.successors))
		}
		// The losers were replays of a superseded token: the family is
		// revoked, the winner's successor included.
		eventually(t, func() bool {
			_, err := rfFamilySecret(t, f.ns, rt)
			return apierrors.IsNotFound(err)
		}).Should(gomega.BeTrue(), "round %d: family revoked", round)
		for _, s := range servers {
			rfErr(t, rfRefresh(t, s, id, secret, c.successors[0]), 400, "invalid_grant", fmt.Sprintf("round %d: successor after the replays", round))
		}
	}
}

// With a grace window, concurrent presentations of one token are honest
// retries: several may be answered, but afterwards exactly one of all the
// successors handed out is valid, and it carries the family on.
func TestRefreshRaceTwoReplicasWithGrace(t *testing.T) {
	f := newFixture(t)
	id, secret := f.client("app", rfSpec("orders.read"))
	_, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	servers := []string{
		startServer(t, tokenserver.Options{RefreshGrace: 20 * time.Second}),
		startServer(t, tokenserver.Options{RefreshGrace: 20 * time.Second}),
	}
	const n, rounds = 10, 3
	rt := rfOK(t, rfPassword(t, servers[0], id, secret, "alice", pw, ""), "password grant")
	for round := 1; round <= rounds; round++ {
		c := rfCount(t, rfRace(servers, id, secret, rt, n))
		if len(c.successors) == 0 {
			t.Fatalf("round %d: no request got a successor", round)
		}
		rfSyncCache(t, f.ns, rt)
		var active []string
		for _, s := range c.successors {
			if rfIntrospect(t, servers[round%2], id, secret, s)["active"] == true {
				active = append(active, s)
			}
		}
		if len(active) != 1 {
			t.Fatalf("round %d: %d of %d successors are valid, want exactly 1", round, len(active), len(c.successors))
		}
		rt = active[0]
	}
	rfOK(t, rfRefresh(t, servers[1], id, secret, rt), "the surviving successor")
}

// Concurrent uses of one refresh token (a client retrying in parallel, or a
// thief racing the owner) are answered with a token or invalid_grant, never
// with a server error.
func TestRefreshConcurrentUseNeverServerError(t *testing.T) {
	f := newFixture(t)
	id, secret := f.client("app", rfSpec("orders.read"))
	_, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	for _, grace := range []time.Duration{time.Nanosecond, 20 * time.Second} {
		servers := []string{
			startServer(t, tokenserver.Options{RefreshGrace: grace}),
			startServer(t, tokenserver.Options{RefreshGrace: grace}),
		}
		for round := 1; round <= 20; round++ {
			rt := rfOK(t, rfPassword(t, servers[0], id, secret, "alice", pw, ""), "password grant")
			if c := rfCount(t, rfRace(servers, id, secret, rt, 10)); len(c.serverErrors) > 0 {
				t.Fatalf("grace %v, round %d: %d server errors: %v", grace, round, len(c.serverErrors), c.serverErrors)
			}
		}
	}
}

// The holder of the current token uses it the moment after the family was
// revoked (by a replay, or RFC 7009 revocation): the answer is invalid_grant.
func TestRefreshRightAfterRevocation(t *testing.T) {
	f := newFixture(t)
	id, secret := f.client("app", rfSpec("orders.read"))
	_, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	base, fc := rfFakeServer(t, tokenserver.Options{RefreshGrace: 2 * time.Second})
	for i := 0; i < 20; i++ {
		r1 := rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
		r2 := rfOK(t, rfRefresh(t, base, id, secret, r1), "R1")
		fc.Step(3 * time.Second)
		rfErr(t, rfRefresh(t, base, id, secret, r1), 400, "invalid_grant", "replayed R1")
		rfErr(t, rfRefresh(t, base, id, secret, r2), 400, "invalid_grant", fmt.Sprintf("attempt %d: R2 right after the replay", i))

		r1 = rfOK(t, rfPassword(t, base, id, secret, "alice", pw, ""), "password grant")
		r2 = rfOK(t, rfRefresh(t, base, id, secret, r1), "R1")
		if r := rfPost(t, base, "/oauth/revoke", form("token", r2, "client_id", id, "client_secret", secret)); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		rfErr(t, rfRefresh(t, base, id, secret, r2), 400, "invalid_grant", fmt.Sprintf("attempt %d: R2 right after its revocation", i))
	}
}

func rfSetDisabled(t *testing.T, u *v1alpha1.OAuthUser, disabled bool) {
	t.Helper()
	eventually(t, func() error {
		var cur v1alpha1.OAuthUser
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), &cur); err != nil {
			return err
		}
		cur.Spec.Disabled = disabled
		return env.Client.Update(context.Background(), &cur)
	}).Should(gomega.Succeed())
	// The controller reflects it in the status, and the token server's
	// cache sees it.
	eventually(t, func() bool {
		var cur v1alpha1.OAuthUser
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), &cur); err != nil {
			return false
		}
		return cur.Status.Disabled == disabled && meta.IsStatusConditionTrue(cur.Status.Conditions, v1alpha1.ConditionReady) == !disabled
	}).Should(gomega.BeTrue(), "user status disabled=%v", disabled)
	rfWaitCached(t, u, func() *v1alpha1.OAuthUser { return &v1alpha1.OAuthUser{} }, func(o *v1alpha1.OAuthUser) bool {
		return o != nil && o.Spec.Disabled == disabled && o.Status.Disabled == disabled
	})
}

// A disabled user cannot sign in, and its existing tokens stop working.
func TestSessionDisabledUser(t *testing.T) {
	f := newFixture(t)
	id, secret := f.client("app", rfSpec("orders.read"))
	u, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	r := rfPassword(t, issuer, id, secret, "alice", pw, "")
	rt := rfOK(t, r, "password grant")
	access := r.body["access_token"].(string)

	rfSetDisabled(t, u, true)
	if a := rfIntrospect(t, issuer, id, secret, access)["active"]; a != false {
		t.Fatalf("access token of a disabled user: active %v", a)
	}
	if a := rfIntrospect(t, issuer, id, secret, rt)["active"]; a != false {
		t.Fatalf("refresh token of a disabled user: active %v", a)
	}
	rfErr(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), 400, "invalid_grant", "password grant of a disabled user")
	rfErr(t, rfRefresh(t, issuer, id, secret, rt), 400, "invalid_grant", "refresh of a disabled user")
}

// The spec: refresh families "die when the user is disabled". Enabling the
// user again must not bring its old sessions back.
func TestSessionReenabledUserKeepsOldSessionsDead(t *testing.T) {
	f := newFixture(t)
	id, secret := f.client("app", rfSpec("orders.read"))
	u, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	rt := rfOK(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), "password grant")
	rfSetDisabled(t, u, true)
	rfSetDisabled(t, u, false)
	rfErr(t, rfRefresh(t, issuer, id, secret, rt), 400, "invalid_grant", "refresh token issued before the user was disabled")
	rfOK(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), "a new sign-in after re-enabling")
}

// A deleted user's refresh tokens stop working, also when a user of the same
// name is created again; the family Secret names the user's namespace and
// UID, so the collector removes it.
func TestSessionDeletedUser(t *testing.T) {
	f := newFixture(t)
	id, secret := f.client("app", rfSpec("orders.read"))
	u, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	r1 := rfOK(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), "password grant 1")
	r2 := rfOK(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), "password grant 2")

	fam, err := rfFamilySecret(t, f.ns, r1)
	if err != nil {
		t.Fatal(err)
	}
	if fam.Labels[contract.LabelRecordUserUID] != string(u.UID) || fam.Labels[contract.LabelRecordNamespace] != f.ns {
		t.Fatalf("family Secret labels %v do not name the user %s (%s) of %s", fam.Labels, u.Name, u.UID, f.ns)
	}

	if err := env.Client.Delete(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	rfWaitCached(t, u, func() *v1alpha1.OAuthUser { return &v1alpha1.OAuthUser{} }, func(o *v1alpha1.OAuthUser) bool { return o == nil })
	rfErr(t, rfRefresh(t, issuer, id, secret, r1), 400, "invalid_grant", "refresh of a deleted user")

	// A new user of the same name is another user: the old family stays dead.
	u2, pw2 := f.user("alice", v1alpha1.OAuthUserSpec{SecretName: "alice-v2"})
	if u2.UID == u.UID {
		t.Fatal("the re-created user has the old UID")
	}
	rfErr(t, rfRefresh(t, issuer, id, secret, r2), 400, "invalid_grant", "old refresh token after the user was re-created")
	rfOK(t, rfPassword(t, issuer, id, secret, "alice", pw2, ""), "the new user signs in")
}

// A client deleted mid-session: its refresh tokens and credentials stop
// working, its access tokens introspect inactive, and a client re-created
// under the same name and client_id does not inherit its families.
func TestSessionClientDeleted(t *testing.T) {
	f := newFixture(t)
	spec := rfSpec("orders.read")
	spec.GrantTypes = append(spec.GrantTypes, v1alpha1.GrantClientCredentials)
	id, secret := f.client("app", spec)
	obsID, obsSecret := f.client("observer", rfSpec("orders.read"))
	u, pw := f.user("alice", v1alpha1.OAuthUserSpec{})
	r := rfPassword(t, issuer, id, secret, "alice", pw, "")
	rt := rfOK(t, r, "password grant")
	access := r.body["access_token"].(string)
	if a := rfIntrospect(t, issuer, obsID, obsSecret, access)["active"]; a != true {
		t.Fatalf("before deletion the access token introspects active=%v", a)
	}

	fam, err := rfFamilySecret(t, f.ns, rt)
	if err != nil {
		t.Fatal(err)
	}
	if fam.Labels[contract.LabelRecordUserUID] != string(u.UID) {
		t.Fatalf("family labels %v: want the user", fam.Labels)
	}

	var c v1alpha1.OAuthClient
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "app"}, &c); err != nil {
		t.Fatal(err)
	}
	oldUID := c.UID
	if err := env.Client.Delete(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	rfWaitCached(t, &c, func() *v1alpha1.OAuthClient { return &v1alpha1.OAuthClient{} }, func(o *v1alpha1.OAuthClient) bool { return o == nil })

	rfErr(t, rfRefresh(t, issuer, id, secret, rt), 401, "invalid_client", "refresh with the deleted client's credentials")
	rfErr(t, rfPost(t, issuer, "/oauth/token", form("grant_type", "client_credentials", "client_id", id, "client_secret", secret)), 401, "invalid_client", "client_credentials of a deleted client")
	rfErr(t, rfPassword(t, issuer, id, secret, "alice", pw, ""), 401, "invalid_client", "password grant through a deleted client")
	if a := rfIntrospect(t, issuer, obsID, obsSecret, access)["active"]; a != false {
		t.Fatalf("access token of a deleted client introspects active=%v", a)
	}

	// Re-created under the same name (so the same generated client_id) with
	// new credentials: a new client, which cannot use the old family.
	id2, secret2 := f.client("app", v1alpha1.OAuthClientSpec{
		GrantTypes: spec.GrantTypes, Scopes: spec.Scopes, SecretName: "app-v2-credentials",
	})
	var c2 v1alpha1.OAuthClient
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "app"}, &c2); err != nil {
		t.Fatal(err)
	}
	if c2.UID == oldUID {
		t.Fatal("the re-created client has the old UID")
	}
	if id2 != id {
		t.Logf("re-created client has client_id %q (was %q)", id2, id)
	}
	rfErr(t, rfRefresh(t, issuer, id2, secret2, rt), 400, "invalid_grant", "the re-created client presenting the old client's refresh token")
	// The family is unusable: nothing answers for it any more.
	if a := rfIntrospect(t, issuer, id2, secret2, rt)["active"]; a != false {
		t.Fatalf("old family introspects active=%v for the re-created client", a)
	}
	rfOK(t, rfPassword(t, issuer, id2, secret2, "alice", pw, ""), "a new session through the re-created client")
}
