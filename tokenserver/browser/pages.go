package browser

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/tokenwarden/tokenwarden/internal/oauth"
)

// The login, consent, sign-out and error pages: server-rendered, no script, styles inline (the
// CSP allows nothing else), labelled fields in a natural focus order.

type hiddenField struct{ Name, Value string }

type loginData struct {
	ClientName string
	Username   string
	Error      string
	CSRF       string
	Hidden     []hiddenField
}

type errorData struct{ Message string }

type consentData struct {
	ClientName string
	Namespace  string
	User       string
	Scopes     []scopeLine
	Audiences  []audienceLine
	CSRF       string
	Hidden     []hiddenField
}

type logoutData struct {
	CSRF   string
	Hidden []hiddenField
}

// signedOutData: Unfollowed when the request named a return address that
// is not registered for the client.
type signedOutData struct{ Unfollowed bool }

// scopeLine is a scope and what it lets the client do.
type scopeLine struct{ Name, Text string }

// audienceLine is an audience; Self when it is the client itself.
type audienceLine struct {
	Name string
	Self bool
}

const pageStyle = `
:root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--line:#d1d9e0;--accent:#0969da;--err:#d1242f;--errbg:#ffebe9}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#151b23;--line:#3d444d;--accent:#4493f8;--err:#f85149;--errbg:#25171c}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;padding:1rem}
main{width:100%;max-width:24rem;background:var(--card);border:1px solid var(--line);border-radius:12px;padding:2rem;box-shadow:0 8px 24px rgba(0,0,0,.06)}
h1{font-size:1.375rem;margin:0 0 .25rem}
p.sub{margin:0 0 1.5rem;color:var(--muted)}
label{display:block;font-weight:600;margin:1rem 0 .375rem}
input[type=text],input[type=password]{width:100%;padding:.625rem .75rem;font:inherit;color:inherit;background:transparent;border:1px solid var(--line);border-radius:6px}
input:focus-visible,button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
button{width:100%;margin-top:1.5rem;padding:.7rem;font:inherit;font-weight:600;color:#fff;background:var(--accent);border:0;border-radius:6px;cursor:pointer}
button.secondary{margin-top:.75rem;color:var(--fg);background:transparent;border:1px solid var(--line)}
h2{font-size:1rem;margin:1.25rem 0 .5rem}
ul{margin:0;padding-left:1.25rem}
li{margin:.25rem 0}
code{font-size:.875rem;overflow-wrap:anywhere;color:var(--muted)}
.error{margin:0 0 1rem;padding:.75rem 1rem;border-radius:6px;color:var(--err);background:var(--errbg);border:1px solid var(--err)}
footer{margin-top:1.5rem;font-size:.8125rem;color:var(--muted);text-align:center}
`

// page is a page template: the document every page shares (head, style,
// footer) around body; title is the template of its <title>.
func page(name, title, body, footer string) *template.Template {
	return template.Must(template.New(name).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>` + title + `</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
` + body + `<footer>` + footer + `</footer>
</main>
</body>
</html>
`))
}

var loginTemplate = page("login", `Sign in to {{.ClientName}}`, `<h1>Sign in</h1>
<p class="sub">to continue to <strong>{{.ClientName}}</strong></p>
{{if .Error}}<p class="error" role="alert" id="login-error">{{.Error}}</p>{{end}}
<form method="post" action="login" novalidate>
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="{{.Username}}" autocomplete="username" autocapitalize="none" spellcheck="false" required{{if not .Username}} autofocus{{end}}{{if .Error}} aria-describedby="login-error"{{end}}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required{{if .Username}} autofocus{{end}}>
<button type="submit">Sign in</button>
</form>
`,
	`Tokenwarden`)

var consentTemplate = page("consent", `Allow {{.ClientName}}?`, `<h1>Allow access?</h1>
<p class="sub"><strong id="client-name">{{.ClientName}}</strong> from namespace <strong id="client-namespace">{{.Namespace}}</strong> asks to act for you, {{.User}}.</p>
<h2>It will be able to</h2>
<ul id="scopes">
{{range .Scopes}}<li>{{.Text}} <code>{{.Name}}</code></li>
{{else}}<li>Sign you in, with no further permission</li>
{{end}}</ul>
<h2>with tokens for</h2>
<ul id="audiences">
{{range .Audiences}}<li>{{if .Self}}this application itself <code>{{.Name}}</code>{{else}}<code>{{.Name}}</code>{{end}}</li>
{{end}}</ul>
<form method="post" action="consent">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">Deny</button>
</form>
`,
	`Tokenwarden · only allow applications you trust`)

var logoutTemplate = page("logout", `Sign out?`, `<h1>Sign out?</h1>
<p class="sub">You will have to sign in again to use applications through this server.</p>
<form method="post" action="logout">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<button type="submit" id="sign-out">Sign out</button>
</form>
`,
	`Tokenwarden`)

var signedOutTemplate = page("signed-out", `Signed out`, `<h1>You are signed out</h1>
{{if .Unfollowed}}<p class="error" role="alert">The application asked to return to an address that is not registered for it, so you stay here.</p>
{{end}}<p class="sub">You can close this window.</p>
`,
	`Tokenwarden`)

var errorTemplate = page("error", `Sign-in error`, `<h1>Sign-in is not possible</h1>
<p class="error" role="alert">{{.Message}}</p>
<p class="sub">Return to the application and try again. If this keeps happening, tell the application's administrator.</p>
`,
	`Tokenwarden`)

// renderPage writes a page with headers against framing (clickjacking),
// caching and leaks through the Referer. formTarget is an origin the page's
// form may lead to besides this one: browsers apply form-action to the
// redirect that follows a submission.
func (s *Browser) renderPage(w http.ResponseWriter, status int, t *template.Template, data any, formTarget string) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		s.log.Error(err, "render page", "template", t.Name())
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("internal error")
	}
	formAction := "'self'"
	if formTarget != "" {
		formAction += " " + formTarget
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	oauth.SetNoStore(h)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows an error to the user without redirecting anywhere.
func (s *Browser) errorPage(w http.ResponseWriter, status int, message string) {
	s.renderPage(w, status, errorTemplate, errorData{Message: message}, "")
}
