package oauth

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

// Params are the parameters of a token-endpoint style request, from a form or
// a JSON body; every name appears at most once (RFC 6749 §3.2).
type Params map[string]string

// maxParamBytes bounds a single parameter value; real values are far smaller.
const maxParamBytes = 8 << 10

// ParseParams reads the request body as application/x-www-form-urlencoded or
// JSON. Between those two the body decides, not the Content-Type header:
// existing clients send JSON while declaring a form, so a body that starts
// with '{' is read as JSON. Any other declared type is refused, text/plain
// included: it is what a cross-origin CORS "simple" request may send without
// a preflight. A name given twice, in a form or a JSON object, is refused
// rather than letting one of the values silently win.
func ParseParams(r *http.Request, limit int64) (Params, *Error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, InvalidRequest("the Content-Type header cannot be parsed")
		}
		switch mt {
		case "application/x-www-form-urlencoded", "application/json":
		default:
			return nil, InvalidRequest("unsupported Content-Type " + strconv.Quote(mt) + ": send application/x-www-form-urlencoded or application/json")
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, InvalidRequest("the request body could not be read")
	}
	if int64(len(body)) > limit {
		return nil, InvalidRequest("the request body is too large")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJSONParams(trimmed)
	}
	return parseFormParams(string(body))
}

func parseFormParams(body string) (Params, *Error) {
	values, err := url.ParseQuery(body)
	if err != nil {
		return nil, InvalidRequest("the form body is malformed")
	}
	p := make(Params, len(values))
	for k, vs := range values {
		if len(vs) != 1 {
			return nil, InvalidRequest("parameter " + strconv.Quote(Truncate(k)) + " is repeated")
		}
		if len(vs[0]) > maxParamBytes {
			return nil, InvalidRequest("parameter " + strconv.Quote(Truncate(k)) + " is too long")
		}
		p[k] = vs[0]
	}
	return p, nil
}

// parseJSONParams accepts a flat JSON object whose values are strings, numbers
// or booleans (written as their JSON text), or, for scope-like lists, arrays of
// strings (joined with spaces). Nested objects are refused. The object is
// walked token by token because decoding into a map keeps the last of two
// equal keys without telling.
func parseJSONParams(body []byte) (Params, *Error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, InvalidRequest("the JSON body is malformed")
	}
	p := make(Params)
	seen := make(map[string]bool)
	for dec.More() {
		t, err := dec.Token()
		k, ok := t.(string)
		if err != nil || !ok {
			return nil, InvalidRequest("the JSON body is malformed")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, InvalidRequest("the JSON body is malformed")
		}
		if seen[k] {
			return nil, InvalidRequest("parameter " + strconv.Quote(Truncate(k)) + " is repeated")
		}
		seen[k] = true
		if e := addJSONParam(p, k, v); e != nil {
			return nil, e
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, InvalidRequest("the JSON body is malformed")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, InvalidRequest("the JSON body holds more than one value")
	}
	return p, nil
}

// addJSONParam stores one JSON member as a parameter; null is no parameter.
func addJSONParam(p Params, k string, v json.RawMessage) *Error {
	s, err := jsonParam(v)
	if err != nil {
		return InvalidRequest("parameter " + strconv.Quote(Truncate(k)) + ": " + err.Error())
	}
	if len(s) > maxParamBytes {
		return InvalidRequest("parameter " + strconv.Quote(Truncate(k)) + " is too long")
	}
	if s != "" {
		p[k] = s
	}
	return nil
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

// Truncate keeps parameter names in error messages short; a hostile client
// must not make the server echo kilobytes back.
func Truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ClientCredentials is how a request identified its client.
type ClientCredentials struct {
	ID, Secret string
}

// ClientCredentialsFrom reads client_secret_basic (RFC 6749 §2.3.1: id and
// secret are form-encoded before Base64) or client_secret_post parameters.
// Using both methods at once is invalid_request (RFC 6749 §2.3).
func ClientCredentialsFrom(r *http.Request, p Params) (ClientCredentials, *Error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return ClientCredentials{ID: p["client_id"], Secret: p["client_secret"]}, nil
	}
	scheme, value, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Basic") {
		// An unsupported authentication method is invalid_client (RFC 6749
		// §5.2), with the challenge naming the one that is supported.
		return ClientCredentials{}, InvalidClient()
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
	if err != nil {
		return ClientCredentials{}, InvalidClient()
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return ClientCredentials{}, InvalidClient()
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil {
		return ClientCredentials{}, InvalidClient()
	}
	if p["client_secret"] != "" || (p["client_id"] != "" && p["client_id"] != id) {
		return ClientCredentials{}, InvalidRequest("the client authenticated twice: use either HTTP Basic or client_secret in the body")
	}
	return ClientCredentials{ID: id, Secret: secret}, nil
}
