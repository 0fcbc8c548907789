package oauth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestResolveSource(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48,192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		peer    string
		trusted TrustedProxies
		xff     []string
		fwd     []string
		want    string
	}{
		{"no proxy configured: peer", "203.0.113.9:5555", nil, []string{"198.51.100.1"}, nil, "203.0.113.9"},
		{"untrusted peer forging XFF", "203.0.113.9:5555", trusted, []string{"198.51.100.1"}, nil, "203.0.113.9"},
		{"untrusted peer forging Forwarded", "203.0.113.9:5555", trusted, nil, []string{"for=198.51.100.1"}, "203.0.113.9"},
		{"trusted peer without headers", "10.1.2.3:80", trusted, nil, nil, "10.1.2.3"},
		{"trusted peer, XFF", "10.1.2.3:80", trusted, []string{"198.51.100.1"}, nil, "198.51.100.1"},
		{"forged left entries are skipped", "10.1.2.3:80", trusted, []string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, nil, "198.51.100.1"},
		{"trusted hops are walked past", "10.1.2.3:80", trusted, []string{"6.6.6.6, 198.51.100.1, 10.9.9.9, 192.0.2.7"}, nil, "198.51.100.1"},
		{"XFF over several header lines", "10.1.2.3:80", trusted, []string{"6.6.6.6, 198.51.100.1", "10.9.9.9"}, nil, "198.51.100.1"},
		{"all hops trusted: the leftmost", "10.1.2.3:80", trusted, []string{"10.0.0.5, 10.0.0.6"}, nil, "10.0.0.5"},
		{"XFF with port", "10.1.2.3:80", trusted, []string{"198.51.100.1:4711"}, nil, "198.51.100.1"},
		{"XFF IPv6", "10.1.2.3:80", trusted, []string{"2001:db8:1:2::99"}, nil, "2001:db8:1:2::99"},
		{"XFF bracketed IPv6 with port", "10.1.2.3:80", trusted, []string{"[2001:db8:1:2::99]:443"}, nil, "2001:db8:1:2::99"},
		{"XFF IPv4-mapped", "10.1.2.3:80", trusted, []string{"::ffff:198.51.100.1"}, nil, "198.51.100.1"},
		{"trusted IPv6 peer", "[2001:db8:ffff:1::1]:80", trusted, []string{"198.51.100.1"}, nil, "198.51.100.1"},
		{"trusted IPv4-mapped peer", "[::ffff:10.1.2.3]:80", trusted, []string{"198.51.100.1"}, nil, "198.51.100.1"},
		{"XFF garbage: the trusted hop that wrote it", "10.1.2.3:80", trusted, []string{"1.1.1.1, not-an-ip"}, nil, "10.1.2.3"},
		{"XFF garbage behind a trusted hop", "10.1.2.3:80", trusted, []string{"<script>, 10.0.0.9"}, nil, "10.0.0.9"},
		{"XFF unknown", "10.1.2.3:80", trusted, []string{"unknown"}, nil, "10.1.2.3"},
		{"XFF empty entry", "10.1.2.3:80", trusted, []string{"198.51.100.1,"}, nil, "10.1.2.3"},
		{"Forwarded for", "10.1.2.3:80", trusted, nil, []string{"for=198.51.100.1;proto=https;by=10.1.2.3"}, "198.51.100.1"},
		{"Forwarded case and spaces", "10.1.2.3:80", trusted, nil, []string{"For = 198.51.100.1 ; Proto=https"}, "198.51.100.1"},
		{"Forwarded quoted IPv6 with port", "10.1.2.3:80", trusted, nil, []string{`for="[2001:db8::1]:4711"`}, "2001:db8::1"},
		{"Forwarded quoted IPv4 with port", "10.1.2.3:80", trusted, nil, []string{`for="198.51.100.1:8080"`}, "198.51.100.1"},
		{"Forwarded chain, forged left", "10.1.2.3:80", trusted, nil, []string{`for=6.6.6.6, for=198.51.100.1, for=10.0.0.4`}, "198.51.100.1"},
		{"Forwarded chain over lines", "10.1.2.3:80", trusted, nil, []string{`for=6.6.6.6`, `for=198.51.100.1;by="_p", for=10.0.0.4`}, "198.51.100.1"},
		{"Forwarded quoted comma and semicolon", "10.1.2.3:80", trusted, nil, []string{`for=198.51.100.1;x="a,b;c", for=10.0.0.4`}, "198.51.100.1"},
		{"Forwarded obfuscated identifier", "10.1.2.3:80", trusted, nil, []string{`for=_hidden, for=10.0.0.4`}, "_hidden"},
		{"Forwarded obfuscated with port", "10.1.2.3:80", trusted, nil, []string{`for="_gazonk:_port1"`}, "_gazonk:_port1"},
		{"Forwarded unknown", "10.1.2.3:80", trusted, nil, []string{`for=unknown, for=10.0.0.4`}, "10.0.0.4"},
		{"Forwarded without for", "10.1.2.3:80", trusted, nil, []string{`proto=https`}, "10.1.2.3"},
		{"Forwarded garbage", "10.1.2.3:80", trusted, nil, []string{`for="\"; ;,,=`}, "10.1.2.3"},
		{"Forwarded unterminated quote", "10.1.2.3:80", trusted, nil, []string{`for="198.51.100.1`}, "10.1.2.3"},
		{"XFF is read when both are present", "10.1.2.3:80", trusted, []string{"198.51.100.1"}, []string{"for=6.6.6.6"}, "198.51.100.1"},
		{"peer without port", "10.1.2.3", trusted, []string{"198.51.100.1"}, nil, "198.51.100.1"},
		{"peer not an address", "@", trusted, []string{"198.51.100.1"}, nil, "@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.xff {
				h.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.fwd {
				h.Add("Forwarded", v)
			}
			if got := ResolveSource(tt.peer, h, tt.trusted); got != tt.want {
				t.Fatalf("ResolveSource = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, false},
		{" 10.1.2.3/8 , fd00::/8,192.0.2.1 ", []string{"10.0.0.0/8", "fd00::/8", "192.0.2.1/32"}, false},
		{"::1", []string{"::1/128"}, false},
		{"10.0.0.0/33", nil, true},
		{"ingress", nil, true},
		{"fe80::1%eth0", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTrustedProxies(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i].String() != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestSourcesMiddleware checks that the source is resolved once, in front of
// the handlers, and that SourceAddr falls back to the TCP peer without it.
func TestSourcesMiddleware(t *testing.T) {
	trusted, _ := ParseTrustedProxies("10.0.0.0/8")
	var got string
	h := Sources(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = SourceAddr(r) }))
	r := httptest.NewRequest("POST", "/oauth/token", nil)
	r.RemoteAddr = "10.0.0.1:1234"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got != "198.51.100.1" {
		t.Fatalf("behind the middleware SourceAddr = %q", got)
	}
	if s := SourceAddr(r); s != "10.0.0.1" {
		t.Fatalf("without it SourceAddr = %q, want the peer", s)
	}
}

// FuzzResolveSource: no header makes resolution panic, and an untrusted peer
// is always its own source whatever the headers say.
func FuzzResolveSource(f *testing.F) {
	trusted, _ := ParseTrustedProxies("10.0.0.0/8,2001:db8::/32")
	f.Add("10.0.0.1:80", "198.51.100.1, 10.0.0.2", `for="[2001:db8::1]:4711";proto=https`)
	f.Add("[2001:db8::5]:80", "", `for=_x, for=unknown,for="\"`)
	f.Add("203.0.113.1:80", "1.2.3.4", "for=1.2.3.4")
	f.Add("10.0.0.1", ",,,", `for="`)
	f.Fuzz(func(t *testing.T, peer, xff, fwd string) {
		h := http.Header{}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		h.Set("Forwarded", fwd)
		got := ResolveSource(peer, h, trusted)
		if a, ok := parseNode(peerAddr(peer)); !ok || !trusted.Contains(a) {
			if got != peerAddr(peer) {
				t.Fatalf("untrusted peer %q resolved to %q", peer, got)
			}
		}
	})
}
