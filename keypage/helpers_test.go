package keypage_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/apikeytest"
	"github.com/keyscope/apikey/keyapi"
	"github.com/keyscope/apikey/keypage"
	"github.com/keyscope/apikey/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// base is where the tests mount the page.
const base = "/settings/api-keys"

// The accounts and people of the tests. A request names its person by the
// session cookie, which the fake sign-in below reads.
const (
	acctA = "acct_a"
	acctB = "acct_b"

	owner  = "olivia" // owner of acct_a
	admin  = "adam"   // admin of acct_a
	member = "mia"    // member of acct_a
	viewer = "vic"    // of acct_a with a role the app made up: read-only
	other  = "oscar"  // owner of acct_b
	temp   = "tess"   // admin of acct_a whose session ends at sessionEnd
	nobody = ""       // no session cookie
)

// sessionCookie is the fake application's session cookie.
const sessionCookie = "session"

// people are the fake application's sessions: the cookie's value names the
// person.
var people = map[string]keyapi.Principal{
	owner:  {Account: acctA, Name: "olivia@a.example", Role: keyapi.RoleOwner},
	admin:  {Account: acctA, Name: "adam@a.example", Role: keyapi.RoleAdmin},
	member: {Account: acctA, Name: "mia@a.example", Role: keyapi.RoleMember},
	viewer: {Account: acctA, Name: "vic@a.example", Role: "viewer"},
	other:  {Account: acctB, Name: "oscar@b.example", Role: keyapi.RoleOwner},
	temp:   {Account: acctA, Name: "tess@a.example", Role: keyapi.RoleAdmin, ExpiresAt: sessionEnd},
}

// sessionEnd is when temp's session ends.
var sessionEnd = start.Add(48 * time.Hour)

// signedIn is the fake application's sign-in: the person the session
// cookie names.
func signedIn(r *http.Request) (keyapi.Principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return keyapi.Principal{}, keyapi.ErrUnauthenticated
	}
	p, ok := people[c.Value]
	if !ok {
		return keyapi.Principal{}, keyapi.ErrUnauthenticated
	}
	return p, nil
}

// start is the tests' clock's time: the Manager's, hence the page's, "now".
var start = time.Date(2030, time.March, 10, 12, 0, 0, 0, time.UTC)

// clock is a Manager's clock that the tests set.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// catalogResources are the resources of the tests' catalog.
var catalogResources = []string{"campaigns", "data-privacy", "lists", "profiles"}

// env is one test's page over a fresh in-memory store.
type env struct {
	t     testing.TB
	store *apikeytest.FaultStore
	m     *apikey.Manager
	page  *keypage.Handler
	h     http.Handler // the page under base
	clock *clock
}

// newEnv returns the page, mounted under base, for the options that opts
// changes from the tests' defaults.
func newEnv(t testing.TB, opts ...func(*keypage.Options)) *env {
	t.Helper()
	catalog, err := apikey.NewCatalog(catalogResources...)
	require.NoError(t, err)
	c := &clock{now: start}
	st := apikeytest.NewFaultStore(memstore.New())
	m := apikeytest.NewManager(t, apikey.Options{Store: st, Catalog: catalog, UsageInterval: -1, Now: c.Now,
		Logger: slog.New(slog.DiscardHandler)})
	o := keypage.Options{
		Authorize:      keyapi.AuthorizeRoles(signedIn),
		ResourceLabels: map[string]string{"data-privacy": "Data privacy"},
		Logger:         slog.New(slog.DiscardHandler),
	}
	for _, f := range opts {
		f(&o)
	}
	page, err := keypage.New(m, o)
	require.NoError(t, err)
	return &env{t: t, store: st, m: m, page: page, h: http.StripPrefix(base, page), clock: c}
}

// mint creates a key of account with the label and scopes ("" for full
// access) through the Manager.
func (e *env) mint(account, label, scopes string) apikey.Key {
	e.t.Helper()
	var s apikey.Scopes
	if scopes != "" {
		var err error
		s, err = apikey.ParseScopes(scopes)
		require.NoError(e.t, err)
	}
	k, _, err := e.m.Create(context.Background(), apikey.CreateParams{Owner: account, Label: label, Scopes: s})
	require.NoError(e.t, err)
	return k
}

// key returns the stored key id, and whether there is one.
func (e *env) key(id uuid.UUID) (apikey.Key, bool) {
	e.t.Helper()
	k, err := e.store.Unwrap().Get(context.Background(), id)
	if err != nil {
		require.ErrorIs(e.t, err, apikey.ErrNotFound)
		return apikey.Key{}, false
	}
	return k, true
}

// keys returns every stored key, of every account, newest first, without
// their digests (which hold a func, never equal to another).
func (e *env) keys() []apikey.Key {
	e.t.Helper()
	ks, err := e.store.Unwrap().List(context.Background(), apikey.ListOptions{AllOwners: true})
	require.NoError(e.t, err)
	for i := range ks {
		ks[i].Digest = apikey.Digest{}
	}
	return ks
}

// unchanged fails the test if the stored keys are not before.
func (e *env) unchanged(before []apikey.Key, msgAndArgs ...any) {
	e.t.Helper()
	assert.Equal(e.t, before, e.keys(), msgAndArgs...)
}

// answer is the page's answer to one request.
type answer struct {
	status int
	header http.Header
	body   string
	resp   *http.Response
}

// doc parses the answer's HTML.
func (a answer) doc() *doc { return parseHTML(a.body) }

// cookie returns the cookie the answer sets, or nil.
func (a answer) cookie(name string) *http.Cookie {
	for _, c := range a.resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// request is a request to the page: its method, path under base (with any
// query), person, form, and headers to set.
type request struct {
	method string
	path   string
	who    string
	form   url.Values
	header map[string]string
	cookie []*http.Cookie
}

// newRequest builds r as a browser on the page's own origin sends it:
// POSTs carry Sec-Fetch-Site: same-origin unless r.header says otherwise.
func newRequest(r request) *http.Request {
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	req := httptest.NewRequest(r.method, base+r.path, body)
	if r.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if r.method != http.MethodGet && r.method != http.MethodHead {
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range r.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if r.who != nobody {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: r.who})
	}
	for _, c := range r.cookie {
		req.AddCookie(c)
	}
	return req
}

// do sends r to the page.
func (e *env) do(r request) answer {
	e.t.Helper()
	return serve(e.h, newRequest(r))
}

// serve sends req to h.
func serve(h http.Handler, req *http.Request) answer {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	return answer{status: resp.StatusCode, header: resp.Header, body: rec.Body.String(), resp: resp}
}

// get sends GET path as who.
func (e *env) get(who, path string) answer {
	e.t.Helper()
	return e.do(request{method: http.MethodGet, path: path, who: who})
}

// post sends POST path with form as who, from the page's own origin.
func (e *env) post(who, path string, form url.Values) answer {
	e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return e.do(request{method: http.MethodPost, path: path, who: who, form: form})
}

// formValues returns the values a browser sends with the form f that submit
// button, if not nil, submits: every named input that is not a radio or
// checkbox, the checked ones that are, and the submit button's name.
func formValues(f *node, submit *node) url.Values {
	v := url.Values{}
	f.walk(func(e *node) {
		name, ok := e.attr("name")
		if !ok || e.has("disabled") {
			return
		}
		switch e.tag {
		case "input":
			switch e.get("type") {
			case "radio", "checkbox":
				if e.has("checked") {
					v.Add(name, e.get("value"))
				}
			case "submit", "button", "image", "reset":
			default:
				v.Add(name, e.get("value"))
			}
		case "textarea":
			v.Add(name, e.Text())
		case "button":
			if e == submit {
				v.Add(name, e.get("value"))
			}
		}
	})
	return v
}

// newForm opens the create form as who and returns its values, once
// included.
func (e *env) newForm(who string) url.Values {
	e.t.Helper()
	a := e.get(who, "/new")
	require.Equal(e.t, http.StatusOK, a.status, a.body)
	f := a.doc().one("form.create")
	require.NotNil(e.t, f, "no create form")
	return formValues(f, nil)
}

// once returns a fresh one-time ID, as a form that makes a key carries.
func (e *env) once() string {
	e.t.Helper()
	once := e.newForm(owner).Get("once")
	require.Len(e.t, once, 32)
	return once
}

// relative returns the path under base of a link the page wrote, which
// must start with base.
func relative(t testing.TB, link string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(link, base+"/")
	require.True(t, ok, "link %q is not under %s/", link, base)
	return "/" + rest
}

// requireStatus fails the test now if a's status is not want.
func requireStatus(t testing.TB, want int, a answer) {
	t.Helper()
	require.Equal(t, want, a.status, "body:\n%s", a.body)
}

// fieldError returns the error shown next to the form field with the ID,
// in the same .field or fieldset, or "".
func fieldError(t testing.TB, d *doc, fieldID string) string {
	t.Helper()
	field := d.byID(fieldID)
	require.NotNil(t, field, "no field #%s", fieldID)
	box := field.closest(".field")
	require.NotNil(t, box, "field #%s is not in a .field", fieldID)
	return box.one(".field-error").Text()
}

// checked returns the value of the checked radio named name, or "".
func checked(d *doc, name string) string {
	for _, in := range d.all("input") {
		if in.get("type") == "radio" && in.get("name") == name && in.has("checked") {
			return in.get("value")
		}
	}
	return ""
}

// picker returns the picker's choice for each resource, as the create form
// shows it.
func picker(t testing.TB, d *doc) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, row := range d.all("table#picker tr[data-resource]") {
		res := row.get("data-resource")
		got[res] = checked(d, "scope:"+res)
	}
	return got
}

// pickerWith returns the picker of every catalog resource at "none" but
// those given.
func pickerWith(levels map[string]string) map[string]string {
	want := map[string]string{}
	for _, r := range catalogResources {
		want[r] = "none"
	}
	for r, l := range levels {
		want[r] = l
	}
	return want
}

// ignored returns the entries of #scopes-ignored, as written.
func ignored(d *doc) []string {
	var out []string
	for _, li := range d.all("#scopes-ignored li") {
		out = append(out, li.rawText())
	}
	return out
}

// listed returns the IDs of the keys the list shows, in order.
func listed(d *doc) []string {
	var ids []string
	for _, row := range d.all("tr.key-row") {
		ids = append(ids, row.get("data-key-id"))
	}
	return ids
}

// row returns the list's row of key id, or nil.
func row(d *doc, id uuid.UUID) *node {
	return d.one(`tr.key-row[data-key-id="` + id.String() + `"]`)
}

// withPageSize is an option of newEnv: Options.PageSize n.
func withPageSize(n int) func(*keypage.Options) {
	return func(o *keypage.Options) { o.PageSize = n }
}
