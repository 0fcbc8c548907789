package workload_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenwarden/tokenwarden/pkg/workload"
	"github.com/tokenwarden/tokenwarden/pkg/workload/workloadtest"
)

// exampleServer stands in for Tokenwarden's token endpoint and for an API
// that echoes the Authorization header it receives.
func exampleServer() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "eyJ-from-client-credentials", "token_type": "Bearer", "expires_in": 900})
	})
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("Authorization"))
	})
	return httptest.NewServer(mux)
}

func get(c *http.Client, url string) string {
	resp, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A pod mounts its OAuthClient's credential Secret and calls an API with
// client_credentials tokens; a rotated client secret is picked up from the
// mount without a restart.
func ExampleClientCredentialsSource() {
	srv := exampleServer()
	defer srv.Close()
	// In a pod: the volumeMount of the Secret <client>-oauth-client.
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("tw-example-creds-%d", time.Now().UnixNano()))
	defer os.RemoveAll(dir)
	_ = workloadtest.WriteMount(dir, map[string][]byte{
		"client_id": []byte("shop.billing"), "client_secret": []byte("s3cret"),
		"token_url": []byte(srv.URL + "/oauth/token"), "scope": []byte("invoices.read"),
	})

	ctx := context.Background()
	src := workload.ClientCredentialsSource(ctx, dir, workload.ClientOptions{})
	client := workload.NewClient(src)
	fmt.Println(get(client, srv.URL+"/api"))
	// Output: Bearer eyJ-from-client-credentials
}

// A pod mounts a workload token Secret (spec.tokenSecrets) and sends its
// token; Tokenwarden renews the Secret and the kubelet swaps the mount, and
// the next request carries the new token.
func ExampleTokenSecretSource() {
	srv := exampleServer()
	defer srv.Close()
	// In a pod: the volumeMount of the token Secret, e.g. billing-token.
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("tw-example-token-%d", time.Now().UnixNano()))
	defer os.RemoveAll(dir)
	mountToken := func(token string) {
		_ = workloadtest.WriteMount(dir, map[string][]byte{
			"access_token": []byte(token), "token_type": []byte("Bearer"),
			"expires_at": []byte(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)),
		})
	}
	mountToken("eyJ-first")

	client := workload.NewClient(workload.TokenSecretSource(dir, workload.TokenOptions{}))
	fmt.Println(get(client, srv.URL+"/api"))
	mountToken("eyJ-renewed")
	fmt.Println(get(client, srv.URL+"/api"))
	// Output:
	// Bearer eyJ-first
	// Bearer eyJ-renewed
}

// A pod whose OAuthClient lists its ServiceAccount
// (spec.authentication.serviceAccounts) mounts no secret at all: the
// projected token for Tokenwarden's audience (config/samples/
// workload_serviceaccount.yaml) authenticates it, read again for every new
// access token as the kubelet rotates it.
func ExampleServiceAccountSource() {
	ctx := context.Background()
	src := workload.ServiceAccountSource(ctx, os.Getenv("TOKEN_URL"), "", workload.DefaultServiceAccountTokenPath,
		workload.ClientOptions{Scopes: []string{"reports.read"}})
	client := workload.NewClient(src)
	_ = client // client.Get("https://reports.example.com/v1/reports")
}
