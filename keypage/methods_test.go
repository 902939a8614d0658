package keypage_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestNoChangeOnGet checks that no GET or HEAD changes a key, whatever the
// route, the role or the form values in the query: only POSTs do.
func TestNoChangeOnGet(t *testing.T) {
	e := newEnv(t)
	k := e.mint(acctA, "shop", "lists:read")
	id := "/" + k.ID.String()
	paths := []string{
		"/", "/new", "/new?label=x&access=full&once=" + e.once(), "/download?token=sk_abc",
		id, id + "/rename", id + "/rename?label=renamed", id + "/activate", id + "/deactivate",
		id + "/deactivate?confirm=yes", id + "/delete", id + "/delete?confirm=yes",
		id + "/clone", id + "/clone?once=" + e.once(), id + "/roll", id + "/roll?grace=0s&once=" + e.once(),
	}
	before := e.keys()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		for _, who := range []string{owner, admin, member} {
			for _, p := range paths {
				a := e.do(request{method: method, path: p, who: who})
				assert.Less(t, a.status, 500, "%s %s as %s", method, p, who)
				assert.Nil(t, a.cookie("keypage_sent"), "%s %s as %s", method, p, who)
			}
		}
	}
	e.unchanged(before, "a GET or HEAD changed the keys")
}

// TestMethodNotAllowed checks that every route answers a method it does not
// take with 405, an Allow header listing those it takes, and an error page.
func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	k := e.mint(acctA, "shop", "lists:read")
	id := "/" + k.ID.String()
	routes := []struct {
		path  string
		allow string
	}{
		{"/", "GET, HEAD"},
		{"/new", "GET, HEAD, POST"},
		{id + "/rename", "GET, HEAD, POST"},
		{id + "/activate", "POST"},
		{id + "/deactivate", "POST"},
		{id + "/delete", "POST"},
		{id + "/clone", "POST"},
		{id + "/roll", "GET, HEAD, POST"},
		{"/download", "POST"},
	}
	before := e.keys()
	for _, rt := range routes {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if strings.Contains(rt.allow, method) {
				continue
			}
			t.Run(method+" "+rt.path, func(t *testing.T) {
				a := e.do(request{method: method, path: rt.path, who: owner})
				assert.Equal(t, http.StatusMethodNotAllowed, a.status)
				assert.Equal(t, rt.allow, a.header.Get("Allow"))
				if method != http.MethodHead {
					assert.NotEmpty(t, a.doc().byID("page-error").Text())
				}
			})
		}
	}
	e.unchanged(before)
}
