package tokenserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// params are the parameters of a token-endpoint style request, from a form or
// a JSON body; every name appears at most once (RFC 6749 §3.2).
type params map[string]string

// maxParamBytes bounds a single parameter value; real values are far smaller.
const maxParamBytes = 8 << 10

// parseParams reads the request body as application/x-www-form-urlencoded or
// JSON. The body decides, not the Content-Type header: many clients send JSON
// while declaring a form, so a body that starts with '{' is read as JSON
// whatever the header says. Other declared types are refused.
func parseParams(r *http.Request, limit int64) (params, *oauthError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, invalidRequest("the Content-Type header cannot be parsed")
		}
		switch mt {
		case "application/x-www-form-urlencoded", "application/json", "text/plain":
		default:
			return nil, invalidRequest("unsupported Content-Type " + strconv.Quote(mt) + ": send application/x-www-form-urlencoded or application/json")
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, invalidRequest("the request body could not be read")
	}
	if int64(len(body)) > limit {
		return nil, invalidRequest("the request body is too large")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJSONParams(trimmed)
	}
	return parseFormParams(string(body))
}

func parseFormParams(body string) (params, *oauthError) {
	values, err := url.ParseQuery(body)
	if err != nil {
		return nil, invalidRequest("the form body is malformed")
	}
	p := make(params, len(values))
	for k, vs := range values {
		if len(vs) != 1 {
			return nil, invalidRequest("parameter " + strconv.Quote(truncate(k)) + " is repeated")
		}
		if len(vs[0]) > maxParamBytes {
			return nil, invalidRequest("parameter " + strconv.Quote(truncate(k)) + " is too long")
		}
		p[k] = vs[0]
	}
	return p, nil
}

// parseJSONParams accepts a flat JSON object whose values are strings, numbers
// or booleans (written as their JSON text), or, for scope-like lists, arrays of
// strings (joined with spaces). Nested objects are refused.
func parseJSONParams(body []byte) (params, *oauthError) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, invalidRequest("the JSON body is malformed")
	}
	if dec.More() {
		return nil, invalidRequest("the JSON body holds more than one value")
	}
	p := make(params, len(raw))
	for k, v := range raw {
		s, err := jsonParam(v)
		if err != nil {
			return nil, invalidRequest("parameter " + strconv.Quote(truncate(k)) + ": " + err.Error())
		}
		if len(s) > maxParamBytes {
			return nil, invalidRequest("parameter " + strconv.Quote(truncate(k)) + " is too long")
		}
		if s != "" {
			p[k] = s
		}
	}
	return p, nil
}

func jsonParam(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", errors.New("empty value")
	}
	switch v[0] {
	case '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case '[':
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			return "", errors.New("a list must hold only strings")
		}
		return strings.Join(list, " "), nil
	case 'n':
		return "", nil
	case '{':
		return "", errors.New("objects are not accepted")
	default:
		// numbers and booleans keep their JSON text, e.g. "true" or "3600".
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return "", errors.New("malformed value")
		}
		return string(v), nil
	}
}

// truncate keeps parameter names in error messages short; a hostile client
// must not make the server echo kilobytes back.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// clientCredentials is how a request identified its client.
type clientCredentials struct {
	id, secret string
}

// clientCredentialsFrom reads client_secret_basic (RFC 6749 §2.3.1: id and
// secret are form-encoded before Base64) or client_secret_post parameters.
// Using both methods at once is invalid_request (RFC 6749 §2.3).
func clientCredentialsFrom(r *http.Request, p params) (clientCredentials, *oauthError) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return clientCredentials{id: p["client_id"], secret: p["client_secret"]}, nil
	}
	scheme, value, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Basic") {
		// An unsupported authentication method is invalid_client (RFC 6749
		// §5.2), with the challenge naming the one that is supported.
		return clientCredentials{}, invalidClient()
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
	if err != nil {
		return clientCredentials{}, invalidClient()
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return clientCredentials{}, invalidClient()
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil {
		return clientCredentials{}, invalidClient()
	}
	if p["client_secret"] != "" || (p["client_id"] != "" && p["client_id"] != id) {
		return clientCredentials{}, invalidRequest("the client authenticated twice: use either HTTP Basic or client_secret in the body")
	}
	return clientCredentials{id: id, secret: secret}, nil
}
