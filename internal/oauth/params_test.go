package oauth

import (
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseParams(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        Params
		wantErr     string
	}{
		{"form", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope=a+b",
			Params{"grant_type": "client_credentials", "scope": "a b"}, ""},
		{"form with charset", "application/x-www-form-urlencoded; charset=UTF-8", "grant_type=password",
			Params{"grant_type": "password"}, ""},
		{"json", "application/json", `{"grant_type":"password","username":"a","password":"p"}`,
			Params{"grant_type": "password", "username": "a", "password": "p"}, ""},
		{"json declared as form", "application/x-www-form-urlencoded", ` {"grant_type":"client_credentials"}`,
			Params{"grant_type": "client_credentials"}, ""},
		{"json without content type", "", `{"grant_type":"client_credentials"}`, Params{"grant_type": "client_credentials"}, ""},
		{"json scope list", "application/json", `{"scope":["a","b"]}`, Params{"scope": "a b"}, ""},
		{"json number and bool", "application/json", `{"expires_in":3600,"x":true,"n":null}`, Params{"expires_in": "3600", "x": "true"}, ""},
		{"json nested object", "application/json", `{"a":{"b":1}}`, nil, "objects are not accepted"},
		{"json list of numbers", "application/json", `{"scope":[1,2]}`, nil, "only strings"},
		{"json malformed", "application/json", `{"a":`, nil, "JSON body is malformed"},
		{"json trailing value", "application/json", `{"a":"b"} {"c":"d"}`, nil, "more than one value"},
		{"repeated form parameter", "application/x-www-form-urlencoded", "scope=a&scope=b", nil, "repeated"},
		// The last duplicate must not silently win: a filter in front that
		// reads the first "scope" would see another request than the server.
		{"repeated json key", "application/json", `{"scope":"read","scope":"admin"}`, nil, "repeated"},
		{"repeated json key declared as form", "application/x-www-form-urlencoded", `{"scope":"read","scope":"admin"}`, nil, "repeated"},
		{"repeated json key escaped", "application/json", `{"scope":"read","sc\u006fpe":"admin"}`, nil, "repeated"},
		{"repeated json key with null", "application/json", `{"scope":null,"scope":"admin"}`, nil, "repeated"},
		{"json trailing brace", "application/json", `{"a":"b"}}`, nil, "more than one value"},
		{"json top-level list", "", `{]`, nil, "JSON body is malformed"},
		{"form declared as json", "application/json", "grant_type=client_credentials", Params{"grant_type": "client_credentials"}, ""},
		// A CORS "simple" request may send text/plain cross-origin without a
		// preflight; it must not reach a grant.
		{"text/plain refused", "text/plain", "grant_type=password&username=a&password=b", nil, "unsupported Content-Type"},
		{"text/plain json refused", "text/plain;charset=UTF-8", `{"grant_type":"password"}`, nil, "unsupported Content-Type"},
		{"bad form", "application/x-www-form-urlencoded", "a=%zz", nil, "form body is malformed"},
		{"multipart refused", "multipart/form-data; boundary=x", "--x--", nil, "unsupported Content-Type"},
		{"xml refused", "application/xml", "<a/>", nil, "unsupported Content-Type"},
		{"bad content type", "a/b; =", "", nil, "cannot be parsed"},
		{"too large", "application/x-www-form-urlencoded", "a=" + strings.Repeat("x", 2000), nil, "too large"},
		{"empty", "", "", Params{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			got, err := ParseParams(r, 1024)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Description, tt.wantErr) || err.Code != ErrInvalidRequest {
					t.Fatalf("want invalid_request containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func basicHeader(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

func TestClientCredentialsFrom(t *testing.T) {
	tests := []struct {
		name      string
		auth      string
		p         Params
		want      ClientCredentials
		wantCode  string
		challenge bool
	}{
		{"basic", basicHeader("ns.app", "s3cret"), Params{}, ClientCredentials{ID: "ns.app", Secret: "s3cret"}, "", false},
		{"basic form-encoded per RFC 6749 2.3.1", basicHeader("my%3Aclient", "a+b%25c"), Params{},
			ClientCredentials{ID: "my:client", Secret: "a b%c"}, "", false},
		{"basic secret containing colon", basicHeader("id", "x:y"), Params{}, ClientCredentials{ID: "id", Secret: "x:y"}, "", false},
		{"basic with same client_id in body", basicHeader("id", "s"), Params{"client_id": "id"}, ClientCredentials{ID: "id", Secret: "s"}, "", false},
		{"post", "", Params{"client_id": "id", "client_secret": "s"}, ClientCredentials{ID: "id", Secret: "s"}, "", false},
		{"public", "", Params{"client_id": "id"}, ClientCredentials{ID: "id"}, "", false},
		{"none", "", Params{}, ClientCredentials{}, "", false},
		{"both methods", basicHeader("id", "s"), Params{"client_secret": "s"}, ClientCredentials{}, ErrInvalidRequest, false},
		{"different ids", basicHeader("id", "s"), Params{"client_id": "other"}, ClientCredentials{}, ErrInvalidRequest, false},
		{"bearer scheme", "Bearer abc", Params{}, ClientCredentials{}, ErrInvalidClient, true},
		{"bad base64", "Basic !!!", Params{}, ClientCredentials{}, ErrInvalidClient, true},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), Params{}, ClientCredentials{}, ErrInvalidClient, true},
		{"bad escape", basicHeader("%zz", "s"), Params{}, ClientCredentials{}, ErrInvalidClient, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/oauth/token", nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			got, err := ClientCredentialsFrom(r, tt.p)
			if tt.wantCode != "" {
				if err == nil || err.Code != tt.wantCode || err.BasicChallenge != tt.challenge {
					t.Fatalf("want %s (challenge %v), got %+v", tt.wantCode, tt.challenge, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// FuzzParseParams: no input makes parsing panic or fail with anything but an
// invalid_request.
func FuzzParseParams(f *testing.F) {
	for _, s := range []string{"grant_type=password&username=a", `{"grant_type":"x","scope":["a"]}`, "%", `{"a":{}}`, "a=1&a=2", "\x00{"} {
		f.Add("application/x-www-form-urlencoded", s)
		f.Add("application/json", s)
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		p, err := ParseParams(r, 4096)
		if err != nil && (err.Code != ErrInvalidRequest || err.Status != 400) {
			t.Fatalf("unexpected error %+v", err)
		}
		if err == nil && p == nil {
			t.Fatal("nil Params without error")
		}
	})
}

// FuzzClientCredentials: no Authorization header makes client authentication
// panic or answer with anything but invalid_request or invalid_client.
func FuzzClientCredentials(f *testing.F) {
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("a:b")))
	f.Add("Basic ")
	f.Add("basic Og==")
	f.Add("Digest x")
	f.Fuzz(func(t *testing.T, auth string) {
		r := httptest.NewRequest("POST", "/oauth/token", nil)
		r.Header.Set("Authorization", auth)
		_, err := ClientCredentialsFrom(r, Params{})
		if err != nil && err.Code != ErrInvalidRequest && err.Code != ErrInvalidClient {
			t.Fatalf("unexpected error %+v", err)
		}
	})
}
