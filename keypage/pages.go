package keypage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
)

// flashes are the messages shown on the list after a change, by the
// ?done= of the redirect.
var flashes = map[string]string{
	"renamed":     "The key was renamed.",
	"activated":   "The key was activated: requests with it are accepted again.",
	"deactivated": "The key was deactivated: requests with it are refused until it is activated again.",
	"deleted":     "The key was deleted: requests with it are refused, and it cannot be brought back.",
}

// list shows a page of the person's account's keys, newest first.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	a, can, ok := h.principal(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	target := "/?limit=" + strconv.Itoa(h.pageSize)
	before := q.Get("before")
	if before != "" {
		if _, err := uuid.Parse(before); err != nil {
			h.fail(w, r, http.StatusBadRequest, "This page address is broken: go back to the first page of keys.")
			return
		}
		target += "&before=" + url.QueryEscape(before)
	}
	var page listPage
	if err := h.call(r, http.MethodGet, target, nil, &page); err != nil {
		h.apiFail(w, r, err)
		return
	}
	v := h.newView("API keys", a, can)
	now := h.now()
	for _, k := range page.Keys {
		v.Keys = append(v.Keys, h.keyView(k, now))
	}
	v.Next, v.Paged = page.Next, before != ""
	v.Flash = flashes[q.Get("done")]
	h.render(w, r, http.StatusOK, "list", v)
}

// newForm shows the create form, pre-filled from a link's ?scopes= and
// ?label=.
func (h *Handler) newForm(w http.ResponseWriter, r *http.Request) {
	a, can, ok := h.allowed(w, r, keyapi.OpCreate)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := &createForm{Access: accessFull, Grants: map[string]apikey.Access{}, Label: q.Get("label")}
	if len(f.Label) > apikey.MaxLabelLen {
		f.Label = "" // not a name a person gave; the form asks for one
	}
	if q.Has("scopes") {
		h.prefill(f, q.Get("scopes"))
	}
	v := h.newView("Create an API key", a, can)
	v.Form, v.Once = f, newOnce()
	h.render(w, r, http.StatusOK, "new", v)
}

// create creates a key from the create form and shows its token, once.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	a, can, ok := h.allowed(w, r, keyapi.OpCreate)
	if !ok || !h.parseForm(w, r) {
		return
	}
	claim, ok := h.claimForm(w, r, a, can)
	if !ok {
		return
	}
	defer claim.release()
	now := h.now()
	f, scopes, expires := h.parseCreate(r.PostForm, now)
	v := h.newView("Create an API key", a, can)
	v.Form, v.Once = f, claim.once
	if len(f.Errors) > 0 {
		h.render(w, r, http.StatusBadRequest, "new", v)
		return
	}
	body := map[string]any{"label": f.Label, "scopes": scopes.String()}
	if !expires.IsZero() {
		body["expires_at"] = expires.Format(time.RFC3339)
	}
	var nk keyapi.NewKey
	if err := h.call(r, http.MethodPost, "/", body, &nk); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status < 500 && ae.Code != keyapi.CodeForbidden && ae.Code != keyapi.CodeUnauthenticated {
			field, ok := map[string]string{"label": fieldLabel, "scopes": fieldAccess, "expires_at": fieldExpires}[ae.Field]
			if !ok {
				field = fieldForm
			}
			f.Errors[field] = humanError(ae)
			h.render(w, r, ae.Status, "new", v)
			return
		}
		h.apiFail(w, r, err)
		return
	}
	h.showToken(w, r, a, can, claim, nk, "created", nil)
}

// renameForm shows the rename form.
func (h *Handler) renameForm(w http.ResponseWriter, r *http.Request) {
	a, can, k, ok := h.target(w, r, keyapi.OpRename)
	if !ok {
		return
	}
	v := h.newView("Rename an API key", a, can)
	v.Key, v.Label = &k, k.Label
	h.render(w, r, http.StatusOK, "rename", v)
}

// rename renames a key from the rename form.
func (h *Handler) rename(w http.ResponseWriter, r *http.Request) {
	a, can, k, ok := h.target(w, r, keyapi.OpRename)
	if !ok || !h.parseForm(w, r) {
		return
	}
	label := r.PostForm.Get("label")
	v := h.newView("Rename an API key", a, can)
	v.Key, v.Label, v.Errors = &k, label, fieldErrors{}
	if msg := checkLabel(label); msg != "" {
		v.Errors[fieldLabel] = msg
		h.render(w, r, http.StatusBadRequest, "rename", v)
		return
	}
	if err := h.call(r, http.MethodPatch, "/"+k.ID, map[string]any{"label": label}, nil); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Field == "label" {
			v.Errors[fieldLabel] = humanError(ae)
			h.render(w, r, ae.Status, "rename", v)
			return
		}
		h.apiFail(w, r, err)
		return
	}
	h.done(w, r, "renamed")
}

// activate reactivates a key. It needs no confirmation: it can be undone
// at once, and it is what a person does to undo a deactivation.
func (h *Handler) activate(w http.ResponseWriter, r *http.Request) {
	_, _, k, ok := h.target(w, r, keyapi.OpReactivate)
	if !ok || !h.parseForm(w, r) {
		return
	}
	if err := h.call(r, http.MethodPatch, "/"+k.ID, map[string]any{"active": true}, nil); err != nil {
		h.apiFail(w, r, err)
		return
	}
	h.done(w, r, "activated")
}

// deactivate deactivates a key once the person has confirmed it.
func (h *Handler) deactivate(w http.ResponseWriter, r *http.Request) {
	h.confirmed(w, r, keyapi.OpDeactivate, "deactivate", "Deactivate an API key", func(id string) error {
		return h.call(r, http.MethodPatch, "/"+id, map[string]any{"active": false}, nil)
	}, "deactivated")
}

// delete deletes a key once the person has confirmed it.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	h.confirmed(w, r, keyapi.OpDelete, "delete", "Delete an API key", func(id string) error {
		return h.call(r, http.MethodDelete, "/"+id, nil, nil)
	}, "deleted")
}

// confirmed performs op on the path's key with do if the form says
// confirm=yes, and otherwise shows the confirmation page whose form sends
// it.
func (h *Handler) confirmed(w http.ResponseWriter, r *http.Request, op keyapi.Operation, action, title string, do func(id string) error, done string) {
	a, can, k, ok := h.target(w, r, op)
	if !ok || !h.parseForm(w, r) {
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		v := h.newView(title, a, can)
		v.Key, v.Action = &k, action
		h.render(w, r, http.StatusOK, "confirm", v)
		return
	}
	if err := do(k.ID); err != nil {
		h.apiFail(w, r, err)
		return
	}
	h.done(w, r, done)
}

// clone clones a key and shows the new key's token, once.
func (h *Handler) clone(w http.ResponseWriter, r *http.Request) {
	a, can, k, claim, ok := h.keyForm(w, r, keyapi.OpClone)
	if !ok {
		return
	}
	defer claim.release()
	var nk keyapi.NewKey
	if err := h.call(r, http.MethodPost, "/"+k.ID+"/clone", nil, &nk); err != nil {
		h.apiFail(w, r, err)
		return
	}
	h.showToken(w, r, a, can, claim, nk, "cloned", &k)
}

// rollForm shows the roll form: the grace period of the original.
func (h *Handler) rollForm(w http.ResponseWriter, r *http.Request) {
	a, can, k, ok := h.target(w, r, keyapi.OpRoll)
	if !ok {
		return
	}
	v := h.newView("Roll an API key", a, can)
	v.Key, v.Graces, v.Grace, v.Once = &k, graces, defaultGrace, newOnce()
	h.render(w, r, http.StatusOK, "roll", v)
}

// roll rolls a key and shows the new key's token, once.
func (h *Handler) roll(w http.ResponseWriter, r *http.Request) {
	a, can, k, claim, ok := h.keyForm(w, r, keyapi.OpRoll)
	if !ok {
		return
	}
	defer claim.release()
	grace, valid := parseGrace(r.PostForm.Get("grace"))
	if !valid {
		v := h.newView("Roll an API key", a, can)
		v.Key, v.Graces, v.Grace, v.Once = &k, graces, defaultGrace, claim.once
		v.Errors = fieldErrors{fieldGrace: "Choose how long the original key keeps working."}
		h.render(w, r, http.StatusBadRequest, "roll", v)
		return
	}
	var nk keyapi.NewKey
	if err := h.call(r, http.MethodPost, "/"+k.ID+"/roll", map[string]any{"grace": grace.String()}, &nk); err != nil {
		h.apiFail(w, r, err)
		return
	}
	// The original as the roll left it: its new expiry.
	src := k
	var after apikey.Key
	if err := h.call(r, http.MethodGet, "/"+k.ID, nil, &after); err == nil {
		src = h.keyView(after, h.now())
	}
	h.showToken(w, r, a, can, claim, nk, "rolled", &src)
}

// keyForm reads a sent form that makes a key from the path's key (clone,
// roll): it checks that the person may perform op on that key, reads the
// form and claims its one-time ID. It answers the request itself, and
// returns ok false, if any of that fails; otherwise the caller releases
// the claim when done.
func (h *Handler) keyForm(w http.ResponseWriter, r *http.Request, op keyapi.Operation) (keyapi.Actor, permissions, keyView, *formClaim, bool) {
	a, can, k, ok := h.target(w, r, op)
	if !ok || !h.parseForm(w, r) {
		return a, can, k, nil, false
	}
	claim, ok := h.claimForm(w, r, a, can)
	return a, can, k, claim, ok
}

// showToken shows a new key's token: once, since it keeps the claim of the
// form that made the key, and never stored by a cache.
func (h *Handler) showToken(w http.ResponseWriter, r *http.Request, a keyapi.Actor, can permissions, claim *formClaim, nk keyapi.NewKey, made string, src *keyView) {
	claim.kept = true
	h.markSent(w, r, claim.once)
	v := h.newView("Your new API key", a, can)
	v.New = &newKeyView{Key: h.keyView(nk.Key, h.now()), Token: nk.Token, Made: made, Source: src}
	h.render(w, r, http.StatusOK, "token", v)
}

// download answers the token page's download button: the token it sends
// as a text file. It stores nothing.
func (h *Handler) download(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := h.principal(w, r); !ok || !h.parseForm(w, r) {
		return
	}
	tok := r.PostForm.Get("token")
	if !h.looksLikeToken(tok) {
		h.fail(w, r, http.StatusBadRequest, "There is no key to download here.")
		return
	}
	name := downloadName(r.PostForm.Get("label"))
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	hd.Set("Cache-Control", "no-store")
	w.Write([]byte(tok + "\n"))
}

// looksLikeToken reports whether s has the shape of one of the Manager's
// tokens: its prefix, an underscore, then letters, digits, '_' and '-'.
func (h *Handler) looksLikeToken(s string) bool {
	rest, ok := strings.CutPrefix(s, h.m.Prefix()+"_")
	if !ok || len(rest) == 0 || len(s) > 256 {
		return false
	}
	return !strings.ContainsFunc(rest, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-')
	})
}

// downloadName is the file name of a token's download: "api-key-" and the
// key's label, lower case, with letters and digits only.
func downloadName(label string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(label) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
			if b.Len() >= 40 {
				break
			}
		} else {
			dash = true
		}
	}
	if b.Len() == 0 {
		return "api-key.txt"
	}
	return "api-key-" + b.String() + ".txt"
}

// target asks the Authorizer about op, then reads the path's key. It
// answers the request itself, and returns ok false, if the person may not
// perform op or the key is not theirs.
func (h *Handler) target(w http.ResponseWriter, r *http.Request, op keyapi.Operation) (keyapi.Actor, permissions, keyView, bool) {
	a, can, ok := h.allowed(w, r, op)
	if !ok {
		return a, can, keyView{}, false
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "There is no such key: it may have been deleted.")
		return a, can, keyView{}, false
	}
	var k apikey.Key
	if err := h.call(r, http.MethodGet, "/"+id.String(), nil, &k); err != nil {
		h.apiFail(w, r, err)
		return a, can, keyView{}, false
	}
	return a, can, h.keyView(k, h.now()), true
}

// allowed returns the person, as principal does, if the Authorizer allows
// them op. Otherwise it answers the request itself and returns ok false.
func (h *Handler) allowed(w http.ResponseWriter, r *http.Request, op keyapi.Operation) (keyapi.Actor, permissions, bool) {
	a, can, ok := h.principal(w, r)
	if ok && !can[op] {
		h.forbidden(w, r, op)
		ok = false
	}
	return a, can, ok
}

// forbidden answers a person the Authorizer does not allow op, with its
// reason when it gives one.
func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request, op keyapi.Operation) {
	msg := "You may not do this with this account's keys."
	if _, err := h.authz(r, op); err != nil {
		var ae *keyapi.AccessError
		if errors.As(err, &ae) && ae.Detail != "" {
			msg = "You may not do this: " + ae.Detail + "."
		}
	}
	h.fail(w, r, http.StatusForbidden, msg)
}

// parseForm reads the request's form, at most maxFormBytes. It answers the
// request itself, and returns false, if the body is too large or
// malformed.
func (h *Handler) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, r, http.StatusRequestEntityTooLarge, "The form sent is too large.")
		} else {
			h.fail(w, r, http.StatusBadRequest, "The form sent could not be read. Reload the page and try again.")
		}
		return false
	}
	return true
}

// done redirects to the list after a change, which shows what it did.
func (h *Handler) done(w http.ResponseWriter, r *http.Request, what string) {
	http.Redirect(w, r, mountPath(r)+"/?done="+what, http.StatusSeeOther)
}

// apiFail answers a failed call of the management API with an error page
// in words for people.
func (h *Handler) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		h.log.ErrorContext(r.Context(), "keypage: calling the management API", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
		return
	}
	if ae.Status == http.StatusUnauthorized {
		h.render(w, r, http.StatusUnauthorized, "signin", &view{Title: "Sign in to manage API keys", SignInURL: h.signIn})
		return
	}
	h.fail(w, r, ae.Status, humanError(ae))
}

// humanError says what a refusal of the management API means, for a
// person.
func humanError(e *apiError) string {
	switch e.Code {
	case keyapi.CodeNotFound:
		return "There is no such key: it may have been deleted."
	case keyapi.CodeForbidden:
		if e.Detail != "" && e.Detail != "the caller may not perform this operation" {
			return "You may not do this: " + e.Detail + "."
		}
		return "You may not do this with this account's keys."
	case keyapi.CodeEscalation:
		return "Your own access does not allow this: " + e.Detail + "."
	case keyapi.CodeExpired:
		return "This key has expired, so it cannot be cloned or rolled. Create a new key instead."
	case keyapi.CodeSelf:
		return "You cannot do this to the key you are using."
	case keyapi.CodeUnavailable:
		return "The key store is unavailable just now. Try again in a moment; reload the list to see whether the change was made."
	case keyapi.CodeInternal:
		return "Something went wrong on our side. Try again in a moment."
	}
	if e.Field == "label" {
		return fmt.Sprintf("This name cannot be used: a name is text of at most %d bytes, not only spaces.", apikey.MaxLabelLen)
	}
	return e.Detail
}

// onceCookie names the cookie that remembers the one-time IDs of the forms
// that made keys, so that sending such a form again (reloading the token
// page, or going back to it) makes no second key and never shows a token
// again. It holds no secret.
const onceCookie = "keypage_sent"

// maxOnces is how many one-time IDs the cookie remembers.
const maxOnces = 20

// newOnce returns a new one-time ID for a form that makes a key.
func newOnce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validOnce reports whether s has the shape newOnce gives.
func validOnce(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// sentOnces returns the one-time IDs of the forms this browser has sent.
func sentOnces(r *http.Request) []string {
	c, err := r.Cookie(onceCookie)
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(strings.Split(c.Value, "."), func(s string) bool { return !validOnce(s) })
}

// claimForm reads the one-time ID of a form that makes a key and claims
// it, if neither this browser (its cookie) nor anyone on this Handler (its
// claims) has sent the form before. Otherwise it answers the request
// itself, and returns ok false: a form sent again gets the page that says
// its key was made and its token is gone. The caller releases the claim
// when it is done; showToken keeps it, and the release of a claim kept
// does nothing, so that a form shown again with its errors can be sent
// again.
func (h *Handler) claimForm(w http.ResponseWriter, r *http.Request, a keyapi.Actor, can permissions) (*formClaim, bool) {
	once := r.PostForm.Get("once")
	if !validOnce(once) {
		h.fail(w, r, http.StatusBadRequest, "This form is out of date. Go back to the list of keys and start again.")
		return nil, false
	}
	if slices.Contains(sentOnces(r), once) || !h.sent.claim(once, time.Now()) {
		h.render(w, r, http.StatusConflict, "sent", h.newView("This form was already sent", a, can))
		return nil, false
	}
	return &formClaim{sent: &h.sent, once: once}, true
}

// formClaim is a form's claim of its one-time ID.
type formClaim struct {
	sent *sentForms
	once string
	kept bool // the form made its key
}

// release gives up the claim unless it is kept.
func (c *formClaim) release() {
	if !c.kept {
		c.sent.release(c.once)
	}
}

// sentForms are the one-time IDs of the forms sent to a Handler, so that a
// form sent twice at once (a double click, with script off) makes one key.
// The browser's cookie covers a form sent again later, to any instance.
type sentForms struct {
	mu sync.Mutex
	at map[string]time.Time // when each was claimed
}

// Bounds of sentForms.
const (
	sentFormsTTL = 24 * time.Hour
	maxSentForms = 100_000
)

// claim records once as sent at now, and reports whether it was not sent
// before.
func (s *sentForms) claim(once string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at == nil {
		s.at = map[string]time.Time{}
	}
	if t, ok := s.at[once]; ok && now.Sub(t) < sentFormsTTL {
		return false
	}
	if len(s.at) >= maxSentForms {
		for id, t := range s.at {
			if now.Sub(t) >= sentFormsTTL || len(s.at) >= maxSentForms/2 {
				delete(s.at, id)
			}
		}
	}
	s.at[once] = now
	return true
}

// release forgets once, a form that made no key.
func (s *sentForms) release(once string) {
	s.mu.Lock()
	delete(s.at, once)
	s.mu.Unlock()
}

// markSent remembers once as sent.
func (h *Handler) markSent(w http.ResponseWriter, r *http.Request, once string) {
	ids := append(sentOnces(r), once)
	if len(ids) > maxOnces {
		ids = ids[len(ids)-maxOnces:]
	}
	http.SetCookie(w, &http.Cookie{
		Name:     onceCookie,
		Value:    strings.Join(ids, "."),
		Path:     mountPath(r) + "/",
		MaxAge:   int((24 * time.Hour).Seconds()),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}
