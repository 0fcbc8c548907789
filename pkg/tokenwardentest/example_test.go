package tokenwardentest_test

import (
	"context"
	"fmt"

	"golang.org/x/oauth2/clientcredentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/pkg/tokenwardentest"
	"github.com/tokenwarden/tokenwarden/pkg/verifier"
)

// A team's own envtest suite (usually in TestMain) runs Tokenwarden, creates
// a client, gets a token with x/oauth2 and checks it with pkg/verifier.
// KUBEBUILDER_ASSETS must point at kube-apiserver and etcd, as for any
// envtest suite.
func Example() {
	ctx := context.Background()
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		panic(err)
	}
	defer env.Stop()

	tw, err := tokenwardentest.Start(ctx, cfg, tokenwardentest.Options{})
	if err != nil {
		panic(err)
	}
	defer tw.Stop()

	ns, _ := tw.CreateNamespace(ctx)
	// The API owns its audience; clients of its namespace may get tokens
	// for it (others need a grant in spec.grants).
	if err := tw.CreateResource(ctx, &v1alpha1.OAuthResource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "invoices-api"},
		Spec:       v1alpha1.OAuthResourceSpec{Audience: "https://api.example.com", Scopes: []string{"invoices.read"}},
	}); err != nil {
		panic(err)
	}
	creds, err := tw.CreateClient(ctx, &v1alpha1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "billing"},
		Spec:       v1alpha1.OAuthClientSpec{Scopes: []string{"invoices.read"}, Audiences: []string{"https://api.example.com"}},
	})
	if err != nil {
		panic(err)
	}
	oauth := clientcredentials.Config{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret, TokenURL: creds.TokenURL, Scopes: creds.Scopes}
	tok, err := oauth.Token(ctx)
	if err != nil {
		panic(err)
	}

	v, err := verifier.New(ctx, verifier.Config{Issuer: tw.IssuerURL, Audience: []string{"https://api.example.com"}})
	if err != nil {
		panic(err)
	}
	claims, err := v.Verify(ctx, tok.AccessToken)
	fmt.Println(claims.ClientID == creds.ClientID, claims.Scopes(), err)
	// Output: true [invoices.read] <nil>
}
