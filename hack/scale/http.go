package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RoundTrip counts the request by verb: a write, a GET of one object, or a
// list or watch.
func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.Method != http.MethodGet:
		c.writes.Add(1)
	case r.URL.Query().Has("watch") || isCollection(r.URL.Path):
		c.list.Add(1)
	default:
		c.reads.Add(1)
	}
	return c.rt.RoundTrip(r)
}

// isCollection: a path ending in a resource name (…/namespaces/x/secrets,
// …/secrets) rather than an object name. Kubernetes paths alternate
// resource and name after the group/version (and namespaces/<ns>).
func isCollection(path string) bool {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:] // api, v1
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:] // apis, group, version
	default:
		return false
	}
	if len(parts) > 2 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	return len(parts)%2 == 1
}

var hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}

func waitServing(issuer string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := hc.Get(issuer + "/.well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the token server did not serve keys in 2 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func postToken(issuer, id, secret string, form url.Values) (map[string]any, error) {
	req, err := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return out, nil
}

func passwordGrant(issuer, id, secret, username, password string) (string, error) {
	out, err := postToken(issuer, id, secret, url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}, "scope": {"read offline_access"}})
	if err != nil {
		return "", err
	}
	rt, _ := out["refresh_token"].(string)
	if rt == "" {
		return "", fmt.Errorf("no refresh token in %v", out)
	}
	return rt, nil
}

// refreshLoad refreshes the families, each once at most, spread over
// c.workers, for c.refreshDuration; it returns successful refreshes per
// second and the count of failures.
func refreshLoad(issuer string, fams *familySet, c config) (float64, int64) {
	var next, ok, failed atomic.Int64
	deadline := time.Now().Add(c.refreshDuration)
	start := time.Now()
	var wg sync.WaitGroup
	for range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= len(fams.tokens) {
					return
				}
				f := fams.tokens[i]
				if _, err := postToken(issuer, f.clientID, f.clientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.token}}); err != nil {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), failed.Load()
}
