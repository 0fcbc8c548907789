package browser

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/oauth"
	"github.com/tokenwarden/tokenwarden/internal/store"
)

// Consent (OpenID Connect Core §3.1.2.4). Anyone who may create an
// OAuthClient in a namespace can register a redirect URI of their own, so a
// signed-in user must see who asks for what before a client gets a code or
// tokens: the consent page names the client, its namespace, the scopes and
// the audiences the tokens would carry (Core.Target, decided as the token
// endpoint decides them). An Allow is remembered per user and client UID
// (store.Consent) and covers later requests for the same or fewer scopes and
// audiences; prompt=consent always asks; prompt=none without a covering
// consent is consent_required (§3.1.2.6). Only the platform team can waive
// the page, for clients it lists in a Namespace annotation
// (contract.AnnotationFirstPartyClients) that tenants cannot edit.

const (
	consentCookie = "tw_consent"
	// consentFormTTL bounds how long a rendered consent form can be
	// submitted.
	consentFormTTL = 10 * time.Minute
)

// consentAsk is what the tokens of a request would carry, which the user
// allows or denies.
type consentAsk struct {
	audiences, scopes []string
}

// authorizeUser answers the request of a signed-in user: at once when no
// consent needs asking, consent_required for prompt=none, else the consent
// page.
func (s *Browser) authorizeUser(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, user *store.User, authTime time.Time) {
	ask, err := s.consentToAsk(r.Context(), ar, user)
	switch {
	case err != nil:
		s.authorizeFailed(w, r, ar, err)
	case ask == nil:
		s.complete(w, r, ar, user, authTime)
	case slices.Contains(ar.prompt, "none"):
		s.redirectError(w, r, ar, oauth.NewError(http.StatusBadRequest, oauth.ErrConsentRequired, "the user has not consented to this client's request"))
	default:
		s.consentPage(w, r, ar, user, ask)
	}
}

// consentToAsk returns what the user must be asked to allow, or nil when
// nothing: the client is first-party, or a remembered consent of this user
// to this client covers it. prompt=consent always asks.
func (s *Browser) consentToAsk(ctx context.Context, ar *authorizeRequest, user *store.User) (*consentAsk, error) {
	ask, err := s.target(ctx, ar)
	if err != nil || slices.Contains(ar.prompt, "consent") {
		return ask, err
	}
	c := ar.client.Object
	if first, err := s.firstParty(ctx, c); err != nil || first {
		return nil, err
	}
	rec, err := s.consents.Get(ctx, c.Namespace, store.ConsentID(c.UID, user.Object.UID))
	if errors.Is(err, store.ErrNotFound) {
		return ask, nil
	}
	if err != nil {
		return nil, err
	}
	if rec.ClientUID == c.UID && rec.UserUID == user.Object.UID && rec.Covers(ask.scopes, ask.audiences) {
		return nil, nil
	}
	return ask, nil
}

// target is what the request's tokens would carry.
func (s *Browser) target(ctx context.Context, ar *authorizeRequest) (*consentAsk, error) {
	auds, scopes, err := s.core.Target(ctx, ar.client, ar.scopes)
	if err != nil {
		return nil, err
	}
	return &consentAsk{audiences: auds, scopes: scopes}, nil
}

// firstParty reports whether the platform team listed the client in its
// namespace's AnnotationFirstPartyClients.
func (s *Browser) firstParty(ctx context.Context, c *v1alpha1.OAuthClient) (bool, error) {
	notes, err := s.dir.NamespaceAnnotations(ctx, c.Namespace)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, name := range strings.Split(notes[contract.AnnotationFirstPartyClients], ",") {
		if strings.TrimSpace(name) == c.Name {
			return true, nil
		}
	}
	return false, nil
}

// consentPage renders the consent form with a token bound to this browser's
// consent nonce (issueFormNonce), to the signed-in user, to the request and
// to what the page shows.
func (s *Browser) consentPage(w http.ResponseWriter, r *http.Request, ar *authorizeRequest, user *store.User, ask *consentAsk) {
	key, err := s.core.SessionKey()
	if err != nil {
		s.authorizeFailed(w, r, nil, err)
		return
	}
	now := s.opts.Clock.Now()
	nonce := s.issueFormNonce(w, r, key, consentCookie, consentFormTTL, now)
	expires := now.Add(consentFormTTL)
	c := ar.client.Object
	d := consentData{
		ClientName: clientName(ar.client), Namespace: c.Namespace, User: userName(user),
		Scopes: describeScopes(ask.scopes), Audiences: describeAudiences(ask.audiences, c.Status.ClientID),
		CSRF:   consentToken(key, nonce, user.Object.UID, ar.carried.Encode(), ask, expires),
		Hidden: hiddenFields(ar.carried),
	}
	s.renderPage(w, http.StatusOK, consentTemplate, d, redirectOrigin(ar.redirectURI))
}

// serveConsent is POST /oauth/consent, the consent form's submission: Allow
// records the consent and answers the request; Deny is access_denied (RFC
// 6749 §4.1.2.1).
func (s *Browser) serveConsent(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	form, ok := s.formValues(w, r)
	if !ok {
		return
	}
	f, ok := s.checkConsentForm(w, r, form)
	if !ok {
		return
	}
	s.clearCookie(w, consentCookie)
	switch form.Get("decision") {
	case "allow":
		s.recordConsent(r.Context(), f.ar, f.user, f.ask)
		s.complete(w, r, f.ar, f.user, f.authTime)
	case "deny":
		s.redirectError(w, r, f.ar, oauth.NewError(http.StatusBadRequest, oauth.ErrAccessDenied, "the user denied the request"))
	default:
		s.errorPage(w, http.StatusBadRequest, "The consent form was sent without a decision.")
	}
}

// consentForm is an accepted consent submission.
type consentForm struct {
	ar       *authorizeRequest
	user     *store.User
	authTime time.Time
	ask      *consentAsk
}

// checkConsentForm accepts a consent submission only from the browser the
// form was shown to, for the user still signed in there, with the request
// unchanged and the tokens still carrying what the page showed; otherwise it
// answers (403 for a forged or stale form) and returns false.
func (s *Browser) checkConsentForm(w http.ResponseWriter, r *http.Request, form url.Values) (*consentForm, bool) {
	carried := carry(form)
	f := &consentForm{}
	var err error
	if f.ar, err = s.parseAuthorize(r.Context(), carried); err != nil {
		s.authorizeFailed(w, r, f.ar, err)
		return nil, false
	}
	now := s.opts.Clock.Now()
	key, err := s.core.SessionKey()
	if err == nil {
		f.user, f.authTime, err = s.sessionUser(r, f.ar, now)
	}
	if err == nil && f.user != nil {
		f.ask, err = s.target(r.Context(), f.ar)
	}
	if err != nil {
		s.authorizeFailed(w, r, f.ar, err)
		return nil, false
	}
	nonce := s.cookieNonce(r, key, consentCookie, now)
	if f.user == nil || crossSiteForm(r) || !checkConsentToken(key, nonce, f.user.Object.UID, carried.Encode(), f.ask, form.Get("csrf_token"), now) {
		s.errorPage(w, http.StatusForbidden, "This consent form has expired or was not sent from this browser. Go back to the application and sign in again.")
		return nil, false
	}
	return f, true
}

// recordConsent remembers that user allowed ask to the client, widening a
// consent given before. A failure is logged and the request still answered:
// the user allowed this request; only the memory of it is lost.
func (s *Browser) recordConsent(ctx context.Context, ar *authorizeRequest, user *store.User, ask *consentAsk) {
	c := ar.client.Object
	ns, id := c.Namespace, store.ConsentID(c.UID, user.Object.UID)
	rec := &store.Consent{ClientUID: c.UID, ClientID: c.Status.ClientID, UserUID: user.Object.UID,
		Scopes: ask.scopes, Audience: ask.audiences, GrantedAt: s.opts.Clock.Now().UTC().Truncate(time.Second)}
	owner := store.Owner{UserName: user.Object.Name, UserUID: user.Object.UID, ClientName: c.Name, ClientUID: c.UID}
	err := s.consents.Create(ctx, ns, id, rec, owner)
	if errors.Is(err, store.ErrExists) {
		_, err = s.consents.Update(ctx, ns, id, func(cur *store.Consent) (store.Op, error) {
			cur.Add(ask.scopes, ask.audiences)
			cur.GrantedAt = rec.GrantedAt
			return store.Write, nil
		})
	}
	if err != nil {
		s.log.Error(err, "record consent", "namespace", ns, "client", c.Name, "user", user.Object.Name)
	}
}

// userName is how the consent page names the signed-in user.
func userName(u *store.User) string {
	if u.Object.Spec.DisplayName != "" {
		return u.Object.Spec.DisplayName + " (" + u.Object.Status.Username + ")"
	}
	return u.Object.Status.Username
}

// scopeText says what an OpenID Connect scope lets a client do; other
// scopes are an API's own and shown by name.
func scopeText(scope string) string {
	switch scope {
	case oauth.ScopeOpenID:
		return "Know who you are"
	case oauth.ScopeProfile:
		return "See your name and username"
	case oauth.ScopeEmail:
		return "See your email address"
	case oauth.ScopeOfflineAccess:
		return "Keep access while you are away (a refresh token)"
	}
	return "Use the permission"
}

func describeScopes(scopes []string) []scopeLine {
	out := make([]scopeLine, 0, len(scopes))
	for _, sc := range scopes {
		out = append(out, scopeLine{Name: sc, Text: scopeText(sc)})
	}
	return out
}

func describeAudiences(auds []string, clientID string) []audienceLine {
	out := make([]audienceLine, 0, len(auds))
	for _, a := range auds {
		out = append(out, audienceLine{Name: a, Self: a == clientID})
	}
	return out
}
