package keypage

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
)

//go:embed templates static
var files embed.FS

// pageNames are the page templates, each in templates/<name>.html and
// rendered inside templates/layout.html.
var pageNames = []string{"list", "new", "token", "rename", "roll", "confirm", "sent", "signin", "error"}

// funcs are the functions templates call.
var funcs = template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2 Jan 2006 15:04 UTC")
	},
	"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"once": newOnce, // a fresh one-time ID for each form that makes a key
}

// parsePages parses every page with the layout, once.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("keypage: parsing the layout: %w", err)
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.Must(layout.Clone()).ParseFS(files, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("keypage: parsing page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what a page shows. Every page uses the first group of fields;
// each page some of the others.
type view struct {
	Title     string
	Base      string       // the mount path, for links
	Asset     assetPaths   // the style sheet and script
	Actor     keyapi.Actor // who is signed in; zero on the sign-in page
	Can       permissions
	Flash     string // what the last change did
	Error     string // what went wrong, for the page as a whole
	SignInURL string

	// The list.
	Keys  []keyView
	Next  string // ?before= of the next page
	Paged bool   // not the first page

	// Forms.
	Form      *createForm
	Resources []resource
	Once      string // the form's one-time ID (create, clone, roll)
	Key       *keyView
	Label     string // the rename field
	Errors    fieldErrors
	Graces    []graceChoice
	Grace     string
	Action    string // the confirm page's: "deactivate" or "delete"

	// The token page.
	New *newKeyView
}

// newKeyView is a key just made, with its token.
type newKeyView struct {
	Key    keyView
	Token  string
	Made   string   // "created", "cloned" or "rolled"
	Source *keyView // the original of a clone or roll, as it is now
}

// keyView is a key as the page shows it.
type keyView struct {
	ID         string
	Label      string
	Hint       string
	Scopes     string      // the scope list, for "create a key with these scopes"
	Access     string      // "Full access", "Read-only" or "Custom"
	Grants     []grantView // the grants that name a resource
	Plus       bool        // Grants come on top of full or read-only access
	Active     bool
	Expired    bool
	Created    time.Time
	LastUsed   time.Time
	Expires    time.Time
	ClonedFrom string
}

// Status names the key's state for people.
func (k keyView) Status() string {
	switch {
	case k.Expired:
		return "Expired"
	case k.Active:
		return "Active"
	}
	return "Inactive"
}

// grantView is one grant of a Custom key.
type grantView struct {
	Resource string
	Access   string
}

// keyView returns k as the page shows it at now.
func (h *Handler) keyView(k apikey.Key, now time.Time) keyView {
	v := keyView{
		ID:       k.ID.String(),
		Label:    k.Label,
		Hint:     k.Hint,
		Scopes:   k.Scopes.String(),
		Active:   k.Active,
		Expired:  k.Expired(now),
		Created:  k.CreatedAt,
		LastUsed: k.LastUsedAt,
		Expires:  k.ExpiresAt,
	}
	if k.ClonedFrom != uuid.Nil {
		v.ClonedFrom = k.ClonedFrom.String()
	}
	switch k.Scopes.Access(apikey.AllResources) {
	case apikey.Write:
		v.Access = "Full access"
	case apikey.Read:
		v.Access = "Read-only"
	default:
		v.Access = "Custom"
	}
	for _, g := range k.Scopes.Grants() {
		if g.Resource != apikey.AllResources {
			v.Grants = append(v.Grants, grantView{Resource: h.resourceLabel(g.Resource), Access: g.Access.String()})
		}
	}
	v.Plus = v.Access != "Custom" && len(v.Grants) > 0
	return v
}

// newView returns the view of a page for actor a.
func (h *Handler) newView(title string, a keyapi.Actor, can permissions) *view {
	return &view{Title: title, Actor: a, Can: can, Resources: h.resources}
}

// render writes the page name with v and status. Every page is private to
// the person it is for and may hold a token, so none is stored by a cache.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	v.Base = mountPath(r)
	v.Asset = assets
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		h.log.ErrorContext(r.Context(), "keypage: rendering a page", "page", name, "err", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail answers with an error page saying msg.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", &view{Title: http.StatusText(status), Error: msg})
}

// assetPaths are the embedded style sheet's and script's paths under the
// mount path, each with its content's digest, so that a browser may keep
// them and never keeps a stale one.
type assetPaths struct{ CSS, JS string }

var assets = assetPaths{CSS: assetPath("page.css"), JS: assetPath("page.js")}

// assetNames are the files of static/, each served at /<name> under the
// mount path.
var assetNames = []string{"page.css", "page.js"}

func assetPath(name string) string {
	data, err := fs.ReadFile(files, "static/"+name)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(data)
	return "/" + name + "?v=" + hex.EncodeToString(sum[:6])
}

// serveStatic serves the embedded file of static/ that the path names.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := path.Base(r.URL.Path)
	data, err := fs.ReadFile(files, "static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ct := "text/plain; charset=utf-8"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(data)
}
