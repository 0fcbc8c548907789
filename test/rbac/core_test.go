package rbac_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/keys"
)

// tenant is one tenant namespace's client and user, Ready, with their
// credentials read from the Secrets the controllers wrote.
type tenant struct {
	ns, audience         string
	clientID, secret     string
	username, password   string
	client               *v1alpha1.OAuthClient
	workloadTokenSecrets []string
	machine              *machine
}

// setUpTenant creates, as the admin, an OAuthResource, an OAuthUser with
// a generated password, one whose password is in a Secret of its own, and
// an OAuthClient allowed client_credentials, password and refresh_token
// for the resource's audience with two workload token Secrets (the
// client's own and the user's), and waits until all are Ready, the tokens
// are written and the token server's cache knows them (tokenCache: the
// manager whose token server is asked).
func setUpTenant(t *testing.T, ns string, tokenCache client.Reader) *tenant {
	t.Helper()
	ctx := context.Background()
	tn := &tenant{ns: ns, audience: "https://api." + ns + ".example", username: "alice",
		workloadTokenSecrets: []string{"workload-client-token", "workload-user-token"}}
	resource := &v1alpha1.OAuthResource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"},
		Spec: v1alpha1.OAuthResourceSpec{Audience: tn.audience, Scopes: []string{"read"}}}
	user := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tn.username}}
	ownPassword := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bob-password"},
		StringData: map[string]string{"password": "correct horse battery staple"}}
	bob := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bob"},
		Spec: v1alpha1.OAuthUserSpec{Password: v1alpha1.PasswordSpec{SecretRef: &v1alpha1.PasswordSecretRef{Name: ownPassword.Name}}}}
	tn.client = &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, Spec: v1alpha1.OAuthClientSpec{
		GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
		Audiences:  []string{tn.audience}, Scopes: []string{"read"},
		TokenSecrets: []v1alpha1.TokenSecret{
			{Name: tn.workloadTokenSecrets[0]},
			{Name: tn.workloadTokenSecrets[1], User: tn.username},
		},
	}}
	for _, o := range []client.Object{resource, user, ownPassword, bob, tn.client} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
	waitCondition(t, resource, v1alpha1.ConditionReady)
	waitCondition(t, user, v1alpha1.ConditionReady)
	waitCondition(t, bob, v1alpha1.ConditionReady)
	waitCondition(t, tn.client, v1alpha1.ConditionReady)
	waitCondition(t, tn.client, v1alpha1.ConditionTokensReady)
	tn.clientID = tn.client.Status.ClientID
	tn.secret = secretValue(t, ns, tn.client.Status.SecretName, "client_secret")
	tn.password = secretValue(t, ns, user.Status.SecretName, "password")
	for _, name := range tn.workloadTokenSecrets {
		if secretValue(t, ns, name, "access_token") == "" {
			t.Fatalf("workload token Secret %s/%s holds no access_token", ns, name)
		}
	}
	// A cache read blocks until the informer has synced: bound it, so a
	// cache that cannot list (a right missing) fails the test, not hangs it.
	cached := func(obj client.Object) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_ = tokenCache.Get(cctx, client.ObjectKeyFromObject(obj), obj)
	}
	eventually(t, func() string {
		c := tn.client.DeepCopy()
		c.Status = v1alpha1.OAuthClientStatus{}
		cached(c)
		return c.Status.ClientID
	}).Should(gomega.Equal(tn.clientID), "the token server's cache knows the client")
	eventually(t, func() string {
		u := user.DeepCopy()
		u.Status = v1alpha1.OAuthUserStatus{}
		cached(u)
		return u.Status.Username
	}).Should(gomega.Equal(tn.username), "the token server's cache knows the user")
	tn.machine = setUpMachine(t, tn, tokenCache)
	return tn
}

// waitCondition waits until obj (re-read into obj) has condition typ True
// for its generation.
func waitCondition(t *testing.T, obj client.Object, typ string) {
	t.Helper()
	eventually(t, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		var conds []metav1.Condition
		switch o := obj.(type) {
		case *v1alpha1.OAuthClient:
			conds = o.Status.Conditions
		case *v1alpha1.OAuthUser:
			conds = o.Status.Conditions
		case *v1alpha1.OAuthResource:
			conds = o.Status.Conditions
		}
		c := meta.FindStatusCondition(conds, typ)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != obj.GetGeneration() {
			return fmt.Errorf("%s: %v", typ, c)
		}
		return nil
	}).Should(gomega.Succeed(), "%T %s/%s %s", obj, obj.GetNamespace(), obj.GetName(), typ)
}

// secretValue reads key of the Secret ns/name as the admin.
func secretValue(t *testing.T, ns, name, key string) string {
	t.Helper()
	var s corev1.Secret
	eventually(t, func() error {
		return env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s)
	}).Should(gomega.Succeed(), "Secret %s/%s", ns, name)
	return string(s.Data[key])
}

// useTokenServer runs the token server's core paths at base with real
// OAuth clients: a client_credentials token, a password grant, a refresh
// (the family's compare-and-swap), the revocation of the access token (a
// revocation record) and of the refresh token (the family deleted).
func useTokenServer(t *testing.T, base string, tn *tenant) {
	t.Helper()
	ctx := context.Background()
	cc := clientcredentials.Config{ClientID: tn.clientID, ClientSecret: tn.secret, TokenURL: base + "/oauth/token"}
	ccTok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client_credentials: %v", err)
	}
	if aud := audiences(t, ccTok.AccessToken); !slices.Contains(aud, tn.audience) {
		t.Fatalf("client_credentials token for %v, want %s (granted by the OAuthResource)", aud, tn.audience)
	}
	conf := oauth2.Config{ClientID: tn.clientID, ClientSecret: tn.secret, Endpoint: oauth2.Endpoint{TokenURL: base + "/oauth/token"}}
	tok, err := conf.PasswordCredentialsToken(ctx, tn.username, tn.password)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("password grant: no refresh token")
	}
	next, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh did not rotate the refresh token")
	}
	revoke(t, base, tn, next.AccessToken, "access_token")
	revoke(t, base, tn, next.RefreshToken, "refresh_token")
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); err == nil {
		t.Fatal("a revoked refresh token still refreshes")
	}
	useAssertions(t, base, tn)
}

// audiences reads the aud claim of a JWT without verifying it (the
// resource servers' verification is tested elsewhere; here it shows which
// grant decision the token server made).
func audiences(t *testing.T, jwt string) []string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Aud any `json:"aud"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	switch a := claims.Aud.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// revoke revokes tok (RFC 7009) and wants 200.
func revoke(t *testing.T, base string, tn *tenant, tok, hint string) {
	t.Helper()
	form := url.Values{"token": {tok}, "token_type_hint": {hint}}
	req, err := http.NewRequest(http.MethodPost, base+"/oauth/revoke", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(tn.clientID), url.QueryEscape(tn.secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke %s: status %d", hint, resp.StatusCode)
	}
}

// rotateKeys forces a signing-key rotation as an administrator would (the
// rotate annotation on the key Secret, "compromised" so that it happens at
// once) and waits until the token server at
// base publishes a key it did not publish before.
func rotateKeys(t *testing.T, base, opNS string) {
	t.Helper()
	before := jwksKids(t, base)
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: opNS, Name: keys.SecretName}, &s); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(s.DeepCopy())
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[keys.AnnotationRotate] = keys.RotateCompromised
	if err := env.Client.Patch(context.Background(), &s, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() []string {
		return slices.DeleteFunc(jwksKids(t, base), func(k string) bool { return slices.Contains(before, k) })
	}).ShouldNot(gomega.BeEmpty(), "a new signing key is published after a forced rotation")
}

func jwksKids(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// disableUser signs the tenant's user in (a live session: a refresh
// family), then disables the user as an administrator would: the
// controllers end the user's sessions (the families are deleted), the
// refresh token stops working and a new sign-in is refused.
func disableUser(t *testing.T, base string, tn *tenant) {
	t.Helper()
	ctx := context.Background()
	var u v1alpha1.OAuthUser
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: tn.ns, Name: tn.username}, &u); err != nil {
		t.Fatal(err)
	}
	families := func() (int, error) {
		var list corev1.SecretList
		err := env.Client.List(ctx, &list, client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily, contract.LabelRecordUserUID: string(u.UID)})
		return len(list.Items), err
	}
	conf := oauth2.Config{ClientID: tn.clientID, ClientSecret: tn.secret, Endpoint: oauth2.Endpoint{TokenURL: base + "/oauth/token"}}
	tok, err := conf.PasswordCredentialsToken(ctx, tn.username, tn.password)
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("password grant before disabling: %v (refresh token %v)", err, tok != nil && tok.RefreshToken != "")
	}
	if n, err := families(); err != nil || n == 0 {
		t.Fatalf("the user has %d refresh families (%v) before being disabled, want some", n, err)
	}
	patch := client.MergeFrom(u.DeepCopy())
	u.Spec.Disabled = true
	if err := env.Client.Patch(ctx, &u, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, families).Should(gomega.BeZero(), "the disabled user's refresh families are deleted")
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Fatal("a disabled user's refresh token still refreshes")
	}
	if _, err := conf.PasswordCredentialsToken(ctx, tn.username, tn.password); err == nil {
		t.Fatal("a disabled user signs in")
	}
}
