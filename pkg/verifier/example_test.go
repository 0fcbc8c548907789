package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/pkg/verifier"
)

// A resource server accepts Tokenwarden access tokens for its audience and
// requires a scope per route; handlers read the verified claims from the
// request context.
func ExampleVerifier_Require() {
	iss := startIssuer(func(args ...any) { panic(fmt.Sprint(args...)) }) // stands in for Tokenwarden
	defer iss.Close()

	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer:   iss.URL, // the "issuer" of your credential Secret
		Audience: []string{"https://api.example.com"},
	})
	if err != nil {
		panic(err)
	}
	invoices := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verifier.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "invoices for %s", claims.ClientID)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /invoices", v.Require("invoices.read")(invoices))
	mux.Handle("POST /invoices", v.Require("invoices.write")(invoices))
	api := httptest.NewServer(mux)
	defer api.Close()

	token := iss.sign(iss.claims(time.Now()), "at+jwt") // scope invoices.read
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, api.URL+"/invoices", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(method, resp.StatusCode, strings.TrimSpace(string(body)))
		if c := resp.Header.Get("WWW-Authenticate"); c != "" {
			fmt.Println(strings.ReplaceAll(c, iss.URL, "<issuer>"))
		}
	}
	// Output:
	// GET 200 invoices for shop.billing
	// POST 403 {"error":"insufficient_scope","error_description":"the token lacks a scope this request requires"}
	// Bearer realm="<issuer>", error="insufficient_scope", error_description="the token lacks a scope this request requires", scope="invoices.write"
}

// Verify checks a token outside net/http, e.g. in a gRPC interceptor or a
// message consumer.
func ExampleVerifier_Verify() {
	iss := startIssuer(func(args ...any) { panic(fmt.Sprint(args...)) }) // stands in for Tokenwarden
	defer iss.Close()
	v, err := verifier.New(context.Background(), verifier.Config{Issuer: iss.URL, Audience: []string{"https://api.example.com"}})
	if err != nil {
		panic(err)
	}
	claims, err := v.Verify(context.Background(), iss.sign(iss.claims(time.Now()), "at+jwt"))
	fmt.Println(claims.Subject, claims.Scopes(), err)

	idToken := iss.sign(iss.claims(time.Now()), "JWT")
	_, err = v.Verify(context.Background(), idToken)
	fmt.Println(errors.Is(err, verifier.ErrInvalidToken), err)
	// Output:
	// shop.billing [invoices.read] <nil>
	// true invalid_token: the token is not an access token (typ must be at+jwt)
}
