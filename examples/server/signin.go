package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"sync"

	"github.com/keyscope/apikey/keyapi"
)

// The settings page's demo sign-in. A real application has its own login
// and sessions: it hands keypage an Authorizer that reads them
// (keyapi.AuthorizeRoles over its session cookie) and needs nothing of
// this file.
//
// Do not copy it into production: its sessions live in memory, never
// expire and cannot be signed out of; its cookie is Secure only when the
// server itself terminates TLS (not behind a proxy that does); and its code
// travels in a URL, which browsers and shells keep in their history.
//
// At every start the server makes a random sign-in code and prints a link
// with it, as notebook servers do. The code works once: whoever opens the
// link and presses "Sign in" becomes the owner of the demo account in that
// browser, with a session cookie that lasts until the server stops.

// settingsPath is where the example mounts the settings page.
const settingsPath = "/settings/api-keys"

// sessionCookie names the demo's session cookie.
const sessionCookie = "keyscope_demo_session"

// demoSignIn holds the one-time sign-in code and the sessions it opened.
// It is safe for concurrent use.
type demoSignIn struct {
	mu       sync.Mutex
	code     string // "" once used
	sessions map[string]keyapi.Principal
}

// newDemoSignIn returns a sign-in with a fresh code.
func newDemoSignIn() *demoSignIn {
	return &demoSignIn{code: randomString(), sessions: map[string]keyapi.Principal{}}
}

// randomString returns 32 random bytes, base64url-encoded.
func randomString() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// link returns the one-time sign-in link of the server at addr.
func (d *demoSignIn) link(addr string) string {
	return "http://" + addr + settingsPath + "/signin?code=" + d.code
}

// signedIn reads the person of r from the session cookie: the Principal
// for keyapi.AuthorizeRoles.
func (d *demoSignIn) signedIn(r *http.Request) (keyapi.Principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return keyapi.Principal{}, keyapi.ErrUnauthenticated
	}
	d.mu.Lock()
	p, ok := d.sessions[c.Value]
	d.mu.Unlock()
	if !ok {
		return keyapi.Principal{}, keyapi.ErrUnauthenticated
	}
	return p, nil
}

// signInPage asks the person to press a button: opening the link changes
// nothing (no state changes on GET), so a link preview cannot spend it.
var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in: keyscope example</title></head>
<body>
<h1>keyscope example server</h1>
{{if .}}<form method="post" action="signin">
<input type="hidden" name="code" value="{{.}}">
<p>Sign in as the owner of the account <strong>demo</strong> to manage its API keys.</p>
<button type="submit" id="signin">Sign in</button>
</form>
{{else}}<p>This sign-in link has no code. Use the link the server printed when it started.</p>{{end}}
</body></html>
`))

// handleSignIn serves the sign-in link: GET shows the button, POST spends
// the code and opens a session.
func (d *demoSignIn) handleSignIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		signInPage.Execute(w, r.URL.Query().Get("code"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	code := r.PostFormValue("code")
	d.mu.Lock()
	ok := d.code != "" && subtle.ConstantTimeCompare([]byte(code), []byte(d.code)) == 1
	var session string
	if ok {
		d.code = "" // one time only
		session = randomString()
		d.sessions[session] = keyapi.Principal{Account: firstOwner, Name: "owner of " + firstOwner, Role: keyapi.RoleOwner}
	}
	d.mu.Unlock()
	if !ok {
		http.Error(w, "this sign-in link was already used, or is not the server's: restart the server for a new one", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: session, Path: settingsPath + "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, settingsPath+"/", http.StatusSeeOther)
}
