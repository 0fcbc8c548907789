package tokenserver_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokenwarden/tokenwarden/internal/store/memstore"
	"github.com/tokenwarden/tokenwarden/tokenserver"
	"github.com/tokenwarden/tokenwarden/tokenserver/servertest"
)

// BenchmarkDiscoveryHandler serves the discovery document through the
// handler (no network): prepared bytes, like the JWKS.
func BenchmarkDiscoveryHandler(b *testing.B) {
	ks, err := servertest.NewKeys()
	if err != nil {
		b.Fatal(err)
	}
	srv, err := tokenserver.New(servertest.Options(func(o *tokenserver.Options) { o.Issuer = "https://auth.example.test" }), memstore.New().Stores(), ks)
	if err != nil {
		b.Fatal(err)
	}
	handler := srv.Handler()
	req := httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
