package contract

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// TokenPath is one --token-path-alias entry: an extra path answering like
// /oauth/token, and the settings the platform team gives it. The token
// server serves it; the OAuthClient controller decides which client holds
// it as its default (Claimable).
type TokenPath struct {
	// Path is the path, or a template whose segments {namespace} and
	// {name} name the OAuthClient (for example /{namespace}/{name}/token).
	Path string
	// Template is true when Path names its client with {namespace} and
	// {name}.
	Template bool
	// ErrorStyle, IssuedAt and UserObject are the response settings of the
	// path, for clients that leave them unset and for errors written before
	// the client is known. Empty means the default.
	ErrorStyle v1alpha1.ErrorStyle
	IssuedAt   v1alpha1.IssuedAtStyle
	UserObject v1alpha1.UserObjectStyle
	// Claimable are the namespaces whose OAuthClients may claim the path as
	// their default (spec.compatibility.defaultForPaths); "*" is every
	// namespace. Empty: no client may claim it.
	Claimable []string
}

// MayClaim reports whether a client of namespace ns may hold p as its
// default path.
func (p TokenPath) MayClaim(ns string) bool {
	return !p.Template && (slices.Contains(p.Claimable, "*") || slices.Contains(p.Claimable, ns))
}

// ParseTokenPath parses "PATH[;option=value...]". The options are
// errors=rfc6749|detail, issued-at=milliseconds|omit,
// user=none|standard|usergrid and claimable=NAMESPACE[,NAMESPACE...] (or
// "*"). A path is absolute, of RFC 3986 path characters (no percent
// encoding, query or fragment), without a trailing slash (which would make
// it a whole subtree) or dot segments; braces appear only as the whole
// segments {namespace} and {name}, both or neither.
func ParseTokenPath(s string) (TokenPath, error) {
	path, opts, _ := strings.Cut(s, ";")
	p := TokenPath{Path: path}
	if err := checkTokenPath(&p); err != nil {
		return TokenPath{}, err
	}
	for _, o := range strings.Split(opts, ";") {
		if o == "" {
			continue
		}
		if err := p.setOption(o); err != nil {
			return TokenPath{}, fmt.Errorf("token path %q: %w", s, err)
		}
	}
	if p.Template && len(p.Claimable) > 0 {
		return TokenPath{}, fmt.Errorf("token path %q: a template names its client; it cannot be claimable", s)
	}
	return p, nil
}

func checkTokenPath(p *TokenPath) error {
	if !strings.HasPrefix(p.Path, "/") || len(p.Path) < 2 || strings.HasSuffix(p.Path, "/") || strings.IndexFunc(p.Path, notPathChar) >= 0 {
		return fmt.Errorf("token path alias %q must be an absolute path of letters, digits and -._~!$&'()*+,=:@ without a trailing slash", p.Path)
	}
	seen := map[string]int{}
	for _, seg := range strings.Split(p.Path[1:], "/") {
		switch {
		case seg == "{namespace}" || seg == "{name}":
			seen[seg]++
		case seg == "" || seg == "." || seg == "..":
			// http.ServeMux redirects such paths to their clean form, so
			// the alias would never be reached.
			return fmt.Errorf("token path alias %q has an empty, . or .. segment", p.Path)
		case strings.ContainsAny(seg, "{}"):
			return fmt.Errorf("token path alias %q: braces may only form the whole segments {namespace} and {name}", p.Path)
		}
	}
	if len(seen) == 0 {
		return nil
	}
	if seen["{namespace}"] != 1 || seen["{name}"] != 1 {
		return fmt.Errorf("token path template %q must hold {namespace} and {name} once each, so it names exactly one OAuthClient", p.Path)
	}
	p.Template = true
	return nil
}

func (p *TokenPath) setOption(o string) error {
	k, v, _ := strings.Cut(o, "=")
	switch k {
	case "errors":
		p.ErrorStyle = v1alpha1.ErrorStyle(v)
		if p.ErrorStyle != v1alpha1.ErrorStyleRFC6749 && p.ErrorStyle != v1alpha1.ErrorStyleDetail {
			return fmt.Errorf("errors=%q: want rfc6749 or detail", v)
		}
	case "issued-at":
		p.IssuedAt = v1alpha1.IssuedAtStyle(v)
		if p.IssuedAt != v1alpha1.IssuedAtMilliseconds && p.IssuedAt != v1alpha1.IssuedAtOmit {
			return fmt.Errorf("issued-at=%q: want milliseconds or omit", v)
		}
	case "user":
		p.UserObject = v1alpha1.UserObjectStyle(v)
		switch p.UserObject {
		case v1alpha1.UserObjectNone, v1alpha1.UserObjectStandard, v1alpha1.UserObjectUsergrid:
		default:
			return fmt.Errorf("user=%q: want none, standard or usergrid", v)
		}
	case "claimable":
		for _, ns := range strings.Split(v, ",") {
			if ns == "" || strings.ContainsAny(ns, " /") {
				return fmt.Errorf("claimable=%q: want namespace names separated by commas, or *", v)
			}
			p.Claimable = append(p.Claimable, ns)
		}
	default:
		return fmt.Errorf("unknown option %q (want errors, issued-at, user or claimable)", k)
	}
	return nil
}

// ParseTokenPaths parses every --token-path-alias entry; a path given twice
// is an error.
func ParseTokenPaths(entries []string) ([]TokenPath, error) {
	var out []TokenPath
	seen := map[string]bool{}
	for _, e := range entries {
		p, err := ParseTokenPath(e)
		if err != nil {
			return nil, err
		}
		if seen[p.Path] {
			return nil, fmt.Errorf("token path alias %q is given twice", p.Path)
		}
		seen[p.Path] = true
		out = append(out, p)
	}
	return out, nil
}

// notPathChar reports a character a token path may not hold: anything but
// the unreserved and sub-delimiter characters of RFC 3986 §3.3 (";" separates
// options; "%", "?" and "#" would need decoding or end the path), "/" and the
// braces of a template.
func notPathChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~!$&'()*+,=:@/{}", r)
}
