package main

import (
	"bytes"
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

// searchable are the resources with a search route, "POST /api/<r>/search",
// which takes its criteria in a JSON body and only reads.
var searchable = []string{"profiles", "campaigns"}

// routes is the data API's route table: for each resource, list and create
// on the collection, get, update and delete on an item, and for some a
// search that is sent with POST but needs only read access. Each route
// carries its handler, so the router serves exactly these requirements.
func (d *dataAPI) routes() []apikey.Route {
	var rs []apikey.Route
	for _, res := range resources() {
		coll, item := "/api/"+res, "/api/"+res+"/{id}"
		rs = append(rs,
			d.route("GET", coll, res, 0, includes[res], d.list),
			d.route("POST", coll, res, 0, nil, d.create),
			d.route("GET", item, res, 0, includes[res], d.get),
			d.route("PATCH", item, res, 0, nil, d.update),
			d.route("PUT", item, res, 0, nil, d.update),
			d.route("DELETE", item, res, 0, nil, d.delete),
		)
		if slices.Contains(searchable, res) {
			rs = append(rs, d.route("POST", coll+"/search", res, apikey.Read, includes[res], d.search))
		}
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

func newDataAPI() *dataAPI {
	return &dataAPI{accounts: map[string]account{}}
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

// route returns the route "method path" on resource res, needing access
// (or, when it is zero, the access of the method) and accepting the includes in accepts,
// served by op. The handler refuses a request without a verified key in its
// context (401: the router lets none through), decodes the body of a POST,
// PATCH or PUT (answering 400 if it is not a JSON object), then locks d,
// takes the data of the key's account and, on an item route, finds the item
// {id} names there (answering 404 if there is none), and calls op with d
// still locked; the answer is sent once d is unlocked.
func (d *dataAPI) route(method, path, res string, access apikey.Access, accepts []string, op func(http.ResponseWriter, *request)) apikey.Route {
	hasBody := method != "GET" && method != "DELETE"
	isItem := strings.HasSuffix(path, "{id}")
	h := func(w http.ResponseWriter, r *http.Request) {
		k, ok := apikey.FromContext(r.Context())
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthenticated"})
			return
		}
		q := &request{Request: r, res: res, i: -1}
		if hasBody {
			if q.body, ok = decodeItem(w, r); !ok {
				return
			}
		}
		// The answer is built under the lock and sent after it, so that a
		// client slow to read its answer holds up no other request.
		var out bufferedAnswer
		out.header = w.Header()
		d.mu.Lock()
		q.data = d.account(k.Owner)
		if !isItem {
			op(&out, q)
		} else if q.i = find(&out, r, q.data[q.res]); q.i >= 0 {
			op(&out, q)
		}
		d.mu.Unlock()
		out.send(w)
	}
	return apikey.Route{Pattern: method + " " + path, Resource: res, Access: access, Includes: accepts, Handler: http.HandlerFunc(h)}
}

// included returns the related records the request asked for. The router
// has already checked every value against the route and the key's scopes;
// apikey.Includes reads them exactly as it did.
func included(q *request) map[string][]item {
	names, err := apikey.Includes(q.Request)
	if err != nil || len(names) == 0 {
		return nil // the router refuses such a request before it gets here
	}
	out := map[string][]item{}
	for _, name := range names {
		out[name] = slices.Clone(q.data[name])
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

// search lists the items whose name contains the body's "name", a string;
// it changes nothing, so its route needs only read access.
func (d *dataAPI) search(w http.ResponseWriter, q *request) {
	name, ok := q.body["name"].(string)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_search", "detail": `the body must be {"name": "<text to find>"}`})
		return
	}
	found := []item{}
	for _, it := range q.data[q.res] {
		if n, _ := it["name"].(string); strings.Contains(n, name) {
			found = append(found, it)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": found, "included": included(q)})
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

// bufferedAnswer holds an answer written under the data lock, to be sent
// once the lock is released. Its header is the real response's.
type bufferedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header { return b.header }

func (b *bufferedAnswer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedAnswer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// send writes the answer to w.
func (b *bufferedAnswer) send(w http.ResponseWriter) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
}
