package rbac_test

import (
	"net/http"
	"testing"
)

// TestCallOf pins how a request maps to what RBAC authorizes: the suite's
// verdicts (a rule used or not) rest on it.
func TestCallOf(t *testing.T) {
	tests := []struct {
		method, url string
		want        apiCall
		ok          bool
	}{
		{"GET", "/api/v1/namespaces/ns/secrets/s", apiCall{"get", "", "secrets", "ns"}, true},
		{"GET", "/api/v1/namespaces/ns/secrets?labelSelector=x", apiCall{"list", "", "secrets", "ns"}, true},
		{"GET", "/api/v1/secrets?watch=true", apiCall{"watch", "", "secrets", ""}, true},
		{"GET", "/api/v1/namespaces", apiCall{"list", "", "namespaces", ""}, true},
		{"GET", "/api/v1/namespaces/team-a", apiCall{"get", "", "namespaces", ""}, true},
		{"POST", "/apis/events.k8s.io/v1/namespaces/ns/events", apiCall{"create", "events.k8s.io", "events", "ns"}, true},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", apiCall{"update", "coordination.k8s.io", "leases", "ns"}, true},
		{"PATCH", "/apis/oauth.tokenwarden.dev/v1alpha1/namespaces/ns/oauthclients/c/status", apiCall{"patch", "oauth.tokenwarden.dev", "oauthclients/status", "ns"}, true},
		{"DELETE", "/api/v1/namespaces/ns/configmaps/c", apiCall{"delete", "", "configmaps", "ns"}, true},
		{"DELETE", "/api/v1/namespaces/ns/configmaps", apiCall{"deletecollection", "", "configmaps", "ns"}, true},
		{"GET", "/apis", apiCall{}, false},
		{"GET", "/version", apiCall{}, false},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, "https://api"+tt.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := callOf(req)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("%s %s = %v, %v; want %v, %v", tt.method, tt.url, got, ok, tt.want, tt.ok)
		}
	}
}
