package tokenserver_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strconv"
	"testing"

	"github.com/onsi/gomega"
)

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func gomegaEqual(v any) gomega.OmegaMatcher { return gomega.Equal(v) }
