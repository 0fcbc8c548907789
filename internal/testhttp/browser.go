package testhttp

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Browser is an HTTP client that keeps cookies and follows no redirect, so
// a test sees every answer of a browser flow. Its methods fail T when no
// answer comes.
type Browser struct {
	T      testing.TB
	Client *http.Client
}

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser(t testing.TB) *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Browser{T: t, Client: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Page is one answer to the browser.
type Page struct {
	Status int
	Header http.Header
	Body   string
	// Location is the Location header, parsed; nil when there is none.
	Location *url.URL
}

// Do sends req.
func (b *Browser) Do(req *http.Request) Page {
	b.T.Helper()
	resp, err := b.Client.Do(req)
	if err != nil {
		b.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	p := Page{Status: resp.StatusCode, Header: resp.Header, Body: string(raw)}
	if loc := resp.Header.Get("Location"); loc != "" {
		if p.Location, err = url.Parse(loc); err != nil {
			b.T.Fatal(err)
		}
	}
	return p
}

// Get opens u.
func (b *Browser) Get(u string) Page {
	b.T.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.T.Fatal(err)
	}
	return b.Do(req)
}

// PostForm submits the form v to u; header is key, value, ...
func (b *Browser) PostForm(u string, v url.Values, header ...string) Page {
	b.T.Helper()
	req, err := NewRequest(http.MethodPost, u, FormType, strings.NewReader(v.Encode()), header...)
	if err != nil {
		b.T.Fatal(err)
	}
	return b.Do(req)
}

// Cookie is the value of the browser's cookie name for u, empty when it has
// none.
func (b *Browser) Cookie(u, name string) string {
	pu, err := url.Parse(u)
	if err != nil {
		b.T.Fatal(err)
	}
	for _, c := range b.Client.Jar.Cookies(pu) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// SetCookie puts a cookie for u in the browser, as another site of the same
// host could.
func (b *Browser) SetCookie(u, name, value string) {
	pu, err := url.Parse(u)
	if err != nil {
		b.T.Fatal(err)
	}
	b.Client.Jar.SetCookies(pu, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// HiddenInput matches a hidden input as the token server writes it (one per
// line of markup, attributes in this order): its name and its value.
var HiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// HiddenFields are the hidden inputs of an HTML page (see HiddenInput).
func HiddenFields(body string) url.Values {
	v := url.Values{}
	for _, m := range HiddenInput.FindAllStringSubmatch(body, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}
