package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/keyscope/apikey"
)

// includes lists, per resource, the related resources a client may ask for
// with ?include=. The resources are the keys of this map.
var includes = map[string][]string{
	"campaigns":     {"lists", "segments", "tags", "templates"},
	"catalogs":      {"tags"},
	"data-privacy":  {"profiles"},
	"events":        {"metrics", "profiles"},
	"flows":         {"metrics", "templates"},
	"lists":         {"profiles", "tags"},
	"metrics":       {"events"},
	"profiles":      {"lists", "segments", "subscriptions"},
	"segments":      {"profiles", "tags"},
	"subscriptions": {"lists", "profiles"},
	"tags":          nil,
	"templates":     {"tags"},
}

func resources() []string { return slices.Sorted(maps.Keys(includes)) }

// routes is the route policy: one collection and one item route per
// resource. The data API registers exactly these patterns, so the policy
// and the router serve the same table.
func routes() []apikey.Route {
	var rs []apikey.Route
	for _, res := range resources() {
		rs = append(rs,
			apikey.Route{Pattern: "/api/" + res, Resource: res, Includes: includes[res]},
			apikey.Route{Pattern: "/api/" + res + "/{id}", Resource: res, Includes: includes[res]},
		)
	}
	return rs
}

// item is one record of the demo data.
type item map[string]any

// account is the data of one account: the items of each resource.
type account map[string][]item

// dataAPI is an in-memory JSON API over the demo resources, kept per
// account: a request sees and changes only the data of the account its key
// belongs to, the key's [apikey.Key.Owner] (keys without an owner share the
// account ""). An account starts with its own copy of the demo data, made on
// its first request. Item IDs are unique across accounts, so that an ID from
// one account never names an item of another: there it is simply not
// found. It is safe for concurrent use.
type dataAPI struct {
	mu       sync.Mutex
	accounts map[string]account // by owner
	nextID   int
}

func newDataAPI() http.Handler {
	d := &dataAPI{accounts: map[string]account{}}
	mux := http.NewServeMux()
	for _, rt := range routes() {
		if strings.HasSuffix(rt.Pattern, "{id}") {
			d.handle(mux, "GET", rt, d.get)
			d.handle(mux, "PATCH", rt, d.update)
			d.handle(mux, "PUT", rt, d.update)
			d.handle(mux, "DELETE", rt, d.delete)
		} else {
			d.handle(mux, "GET", rt, d.list)
			d.handle(mux, "POST", rt, d.create)
		}
	}
	return mux
}

// account returns the data of owner, giving a new account its copy of the
// demo data: two items of each resource. The caller holds d.mu.
func (d *dataAPI) account(owner string) account {
	if a, ok := d.accounts[owner]; ok {
		return a
	}
	a := account{}
	for _, res := range resources() {
		for i := 1; i <= 2; i++ {
			a[res] = append(a[res], item{"id": d.newID(), "name": fmt.Sprintf("%s %d", res, i)})
		}
	}
	d.accounts[owner] = a
	return a
}

// newID returns an item ID no other item of any account has. The caller
// holds d.mu.
func (d *dataAPI) newID() string {
	d.nextID++
	return strconv.Itoa(d.nextID)
}

// request is one request to the data API, read as far as its route needs.
type request struct {
	*http.Request
	data account // the data of the calling key's account
	res  string  // the resource of the route
	body item    // the JSON object sent, for POST, PATCH and PUT
	i    int     // on an item route, the index of the item {id} names
}

// handle registers method on rt's pattern. The handler refuses a request
// without a verified key in its context (401: the server mounts the data API
// behind the guard, which lets none through), decodes the body of a POST,
// PATCH or PUT (answering 400 if it is not a JSON object), then locks d,
// takes the data of the key's account and, on an item route, finds the item
// {id} names there (answering 404 if there is none), and calls op with d
// still locked.
func (d *dataAPI) handle(mux *http.ServeMux, method string, rt apikey.Route, op func(http.ResponseWriter, *request)) {
	hasBody := method != "GET" && method != "DELETE"
	isItem := strings.HasSuffix(rt.Pattern, "{id}")
	mux.HandleFunc(method+" "+rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
		k, ok := apikey.FromContext(r.Context())
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthenticated"})
			return
		}
		q := &request{Request: r, res: rt.Resource, i: -1}
		if hasBody {
			if q.body, ok = decodeItem(w, r); !ok {
				return
			}
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		q.data = d.account(k.Owner)
		if isItem {
			if q.i = find(w, r, q.data[q.res]); q.i < 0 {
				return
			}
		}
		op(w, q)
	})
}

// included returns the related records the request asked for. The route
// policy has already checked every value against the route and the key's
// scopes; this reads the same query parameter it read.
func included(q *request) map[string][]item {
	var out map[string][]item
	for _, v := range q.URL.Query()["include"] {
		for name := range strings.SplitSeq(v, ",") {
			if name == "" {
				continue
			}
			if out == nil {
				out = map[string][]item{}
			}
			out[name] = slices.Clone(q.data[name])
		}
	}
	return out
}

// find returns the index in items of the item the request's {id} names, or
// answers 404 and returns -1.
func find(w http.ResponseWriter, r *http.Request, items []item) int {
	id := r.PathValue("id")
	i := slices.IndexFunc(items, func(it item) bool { return it["id"] == id })
	if i < 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
	}
	return i
}

func decodeItem(w http.ResponseWriter, r *http.Request) (item, bool) {
	var it item
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&it); err != nil || it == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_json", "detail": "the body must be a JSON object"})
		return nil, false
	}
	return it, true
}

// The operations below run with d.mu held; see handle.

func (d *dataAPI) list(w http.ResponseWriter, q *request) {
	writeJSON(w, http.StatusOK, map[string]any{"data": q.data[q.res], "included": included(q)})
}

func (d *dataAPI) get(w http.ResponseWriter, q *request) {
	writeJSON(w, http.StatusOK, map[string]any{"data": q.data[q.res][q.i], "included": included(q)})
}

func (d *dataAPI) create(w http.ResponseWriter, q *request) {
	q.body["id"] = d.newID()
	q.data[q.res] = append(q.data[q.res], q.body)
	writeJSON(w, http.StatusCreated, map[string]any{"data": q.body})
}

func (d *dataAPI) update(w http.ResponseWriter, q *request) {
	it := q.data[q.res][q.i]
	for k, v := range q.body {
		if k != "id" {
			it[k] = v
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": it})
}

func (d *dataAPI) delete(w http.ResponseWriter, q *request) {
	q.data[q.res] = slices.Delete(q.data[q.res], q.i, q.i+1)
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
