package verifier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// introspect asks the issuer whether the token is still active (RFC 7662
// §2), authenticating with HTTP Basic, id and secret form-encoded first
// (RFC 6749 §2.3.1). Anything but a clear answer is ErrUnavailable: a
// verifier configured for immediate revocation must not guess.
func (v *Verifier) introspect(ctx context.Context, token string) error {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.introURL, strings.NewReader(form.Encode()))
	if err != nil {
		return unavailable("introspection request", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	in := v.cfg.Introspection
	req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return unavailable("the introspection endpoint could not be reached", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return unavailable("the introspection endpoint refused the request", fmt.Errorf("status %d", resp.StatusCode))
	}
	var answer struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&answer); err != nil {
		return unavailable("the introspection answer is unreadable", err)
	}
	if !answer.Active {
		return invalid("the token is no longer active (revoked)", nil)
	}
	return nil
}
