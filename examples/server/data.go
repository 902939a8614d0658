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

// dataAPI is an in-memory JSON API over the demo resources. It is safe for
// concurrent use.
type dataAPI struct {
	mu     sync.Mutex
	items  map[string][]item
	nextID int
}

func newDataAPI() http.Handler {
	d := &dataAPI{items: map[string][]item{}}
	for _, res := range resources() {
		for i := 1; i <= 2; i++ {
			d.nextID++
			d.items[res] = append(d.items[res], item{"id": strconv.Itoa(d.nextID), "name": fmt.Sprintf("%s %d", res, i)})
		}
	}
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

// request is one request to the data API, read as far as its route needs.
type request struct {
	*http.Request
	res  string // the resource of the route
	body item   // the JSON object sent, for POST, PATCH and PUT
	i    int    // on an item route, the index of the item {id} names
}

// handle registers method on rt's pattern. The handler decodes the body of a
// POST, PATCH or PUT (answering 400 if it is not a JSON object), then locks
// d and, on an item route, finds the item {id} names (answering 404 if
// there is none), and calls op with d still locked.
func (d *dataAPI) handle(mux *http.ServeMux, method string, rt apikey.Route, op func(http.ResponseWriter, *request)) {
	hasBody := method != "GET" && method != "DELETE"
	isItem := strings.HasSuffix(rt.Pattern, "{id}")
	mux.HandleFunc(method+" "+rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
		q := &request{Request: r, res: rt.Resource, i: -1}
		if hasBody {
			var ok bool
			if q.body, ok = decodeItem(w, r); !ok {
				return
			}
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if isItem {
			if q.i = d.find(w, r, q.res); q.i < 0 {
				return
			}
		}
		op(w, q)
	})
}

// included returns the related records the request asked for. The route
// policy has already checked every value against the route and the key's
// scopes; this reads the same query parameter it read.
func (d *dataAPI) included(r *http.Request) map[string][]item {
	var out map[string][]item
	for _, v := range r.URL.Query()["include"] {
		for name := range strings.SplitSeq(v, ",") {
			if name == "" {
				continue
			}
			if out == nil {
				out = map[string][]item{}
			}
			out[name] = slices.Clone(d.items[name])
		}
	}
	return out
}

// find returns the index of the item the request's {id} names, or answers
// 404 and returns -1. The caller holds d.mu.
func (d *dataAPI) find(w http.ResponseWriter, r *http.Request, res string) int {
	id := r.PathValue("id")
	i := slices.IndexFunc(d.items[res], func(it item) bool { return it["id"] == id })
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
	writeJSON(w, http.StatusOK, map[string]any{"data": d.items[q.res], "included": d.included(q.Request)})
}

func (d *dataAPI) get(w http.ResponseWriter, q *request) {
	writeJSON(w, http.StatusOK, map[string]any{"data": d.items[q.res][q.i], "included": d.included(q.Request)})
}

func (d *dataAPI) create(w http.ResponseWriter, q *request) {
	d.nextID++
	q.body["id"] = strconv.Itoa(d.nextID)
	d.items[q.res] = append(d.items[q.res], q.body)
	writeJSON(w, http.StatusCreated, map[string]any{"data": q.body})
}

func (d *dataAPI) update(w http.ResponseWriter, q *request) {
	for k, v := range q.body {
		if k != "id" {
			d.items[q.res][q.i][k] = v
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": d.items[q.res][q.i]})
}

func (d *dataAPI) delete(w http.ResponseWriter, q *request) {
	d.items[q.res] = slices.Delete(d.items[q.res], q.i, q.i+1)
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
