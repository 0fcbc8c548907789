package oauth

import (
	"strings"
	"testing"
)

func TestCheckRedirectURI(t *testing.T) {
	tests := []struct {
		uri     string
		wantErr string
	}{
		{"https://app.example.com/cb", ""},
		{"https://app.example.com:8443/cb?x=1", ""},
		{"https://app.example.com", ""},
		{"http://127.0.0.1/cb", ""},
		{"http://127.0.0.1:53123/cb", ""},
		{"http://[::1]:8080/cb", ""},
		{"http://[::1]/cb", ""},
		{"http://localhost/cb", ""},
		{"http://localhost:3000", ""},
		// Prefix matching accepted these; each sends codes in clear text to
		// a remote host.
		{"http://localhost.attacker.example/cb", "must be https"},
		{"http://127.0.0.1.attacker.example/cb", "must be https"},
		{"http://localhost@attacker.example/cb", "userinfo"},
		{"http://127.0.0.1@attacker.example/cb", "userinfo"},
		{"http://[::1]@attacker.example/cb", "not an absolute URL"},
		{"http://localhost:80@attacker.example/cb", "userinfo"},
		{"https://user:pw@app.example.com/cb", "userinfo"},
		{"http://127.0.0.2/cb", "must be https"},
		{"http://[::2]/cb", "must be https"},
		{"http://LOCALHOST/cb", "must be https"},
		{"http://app.example.com/cb", "must be https"},
		{"https://app.example.com/cb#frag", "fragment"},
		{"https://app.example.com/cb#", "fragment"},
		{"HTTPS://app.example.com/cb", "must be https"},
		{"https:///cb", "must be https"},
		{"https:app.example.com", "must be https"},
		{"custom.scheme:/cb", "must be https"},
		{"javascript://%0aalert(1)", "not an absolute URL"},
		{"javascript://x/%0aalert(1)", "must be https"},
		{"/cb", "must be https"},
		{"cb", "not an absolute URL"},
		{"", "not an absolute URL"},
		{"https://app.example.com/\x00", "not an absolute URL"},
		{"https://app.example.com:port/", "not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			err := CheckRedirectURI(tt.uri)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzCheckRedirectURI: no input panics, and an accepted URI is https, or
// http on an exact loopback host, with nothing before the host.
func FuzzCheckRedirectURI(f *testing.F) {
	for _, s := range []string{"https://a.example/cb", "http://localhost:1/cb", "http://[::1]/", "http://localhost@x/", "http://127.0.0.1.x/", "https://a/#", "https:///"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckRedirectURI(s) != nil {
			return
		}
		if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://127.0.0.1") &&
			!strings.HasPrefix(s, "http://localhost") && !strings.HasPrefix(s, "http://[::1]") {
			t.Fatalf("accepted %q", s)
		}
		if strings.Contains(s, "#") || strings.Contains(strings.SplitN(strings.SplitN(s, "/", 4)[2], "?", 2)[0], "@") {
			t.Fatalf("accepted %q with a fragment or userinfo", s)
		}
	})
}
