package rbac_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// apiCall is one request to the API server in RBAC terms: the verb the
// authorizer checks, the API group, the resource (with "/subresource") and
// the namespace ("" for cluster-scoped objects and cluster-wide lists).
type apiCall struct {
	verb, group, resource, namespace string
}

func (c apiCall) String() string {
	g := c.group
	if g == "" {
		g = "core"
	}
	return fmt.Sprintf("%s %s/%s in %q", c.verb, g, c.resource, c.namespace)
}

// callOf maps a request to what RBAC authorizes, the way the API server's
// request-info resolver does for the paths the manager uses: GET is get
// with a name, list without one, watch with ?watch=true; POST create; PUT
// update; PATCH patch; DELETE delete, or deletecollection without a name.
// ok is false for non-resource URLs (discovery, version).
func callOf(r *http.Request) (apiCall, bool) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var c apiCall
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		c.group, parts = parts[1], parts[3:]
	default:
		return c, false
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		c.namespace, parts = parts[1], parts[2:]
	}
	c.resource = parts[0]
	name := ""
	if len(parts) > 1 {
		name = parts[1]
	}
	if len(parts) > 2 {
		c.resource += "/" + parts[2]
	}
	if c.resource == "namespaces" && name != "" {
		// A namespace is cluster-scoped: RBAC sees no namespace for it.
		c.namespace = ""
	}
	switch r.Method {
	case http.MethodGet:
		switch {
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			c.verb = "watch"
		case name != "":
			c.verb = "get"
		default:
			c.verb = "list"
		}
	case http.MethodPost:
		c.verb = "create"
	case http.MethodPut:
		c.verb = "update"
	case http.MethodPatch:
		c.verb = "patch"
	case http.MethodDelete:
		c.verb = "delete"
		if name == "" {
			c.verb = "deletecollection"
		}
	default:
		c.verb = strings.ToLower(r.Method)
	}
	return c, true
}

// recorder sees every request one manager sends (rest.Config.WrapTransport):
// the calls the API server allowed, and every one it refused with 403.
type recorder struct {
	mu        sync.Mutex
	allowed   map[apiCall]int
	forbidden []string
}

func newRecorder() *recorder { return &recorder{allowed: map[apiCall]int{}} }

func (rec *recorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return resp, err
		}
		c, ok := callOf(req)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		switch {
		case resp.StatusCode == http.StatusForbidden:
			rec.forbidden = append(rec.forbidden, fmt.Sprintf("%s %s (%s)", req.Method, req.URL.RequestURI(), c))
		case ok && resp.StatusCode < 500:
			// A 404 or 409 was authorized too: RBAC is checked first.
			rec.allowed[c]++
			if c.verb == "watch" && req.URL.Query().Get("sendInitialEvents") == "true" {
				// A streaming list (WatchList): client-go's informers list
				// this way and fall back to a plain list where the API
				// server does not stream, which needs the list verb. The
				// informer's listing is what ran.
				c.verb = "list"
				rec.allowed[c]++
			}
		}
		return resp, nil
	})
}

// refused lists the requests the API server refused so far.
func (rec *recorder) refused() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.forbidden)
}

// used reports whether a call of verb on group/resource was allowed in a
// namespace that scope covers ("" covers every namespace and
// cluster-scoped objects).
func (rec *recorder) used(verb, group, resource, scope string) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for c := range rec.allowed {
		if c.verb == verb && c.group == group && c.resource == resource && (scope == "" || c.namespace == scope) {
			return true
		}
	}
	return false
}

// calls lists every allowed call, for a failure message.
func (rec *recorder) calls() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for c := range rec.allowed {
		out = append(out, c.String())
	}
	slices.Sort(out)
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
