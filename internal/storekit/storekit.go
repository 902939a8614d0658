// Package storekit holds what keyscope's SQL stores, sqlitestore and
// pgstore, share: their embedded, numbered migration files, and a cache of
// parsed scope lists.
package storekit

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keyscope/apikey"
)

// Migration is one schema change: the SQL of file NNNN_description.sql,
// which brings the schema from version NNNN-1 to NNNN.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads the *.sql files of dir in fsys. Their names must
// start with a version number and an underscore, and the versions must run
// 1, 2, 3... without gaps, so that a migration cannot be skipped or applied
// twice. Errors name the offending file.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("migration file %q: want a name starting %04d_", name, len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reading migration %q: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	if len(ms) == 0 {
		return nil, errors.New("no migrations found")
	}
	return ms, nil
}

// MaxScopeLists is the most scope lists a ScopeCache keeps.
const MaxScopeLists = 256

// ScopeCache remembers parsed scope lists. Applications use a handful of
// distinct lists, so the cache saves parsing on every read of a key; it
// stops growing at MaxScopeLists entries, so that it stays bounded whatever
// is stored. Readers take no lock: the map is replaced, never changed, on
// insertion. The zero value is ready to use, and a ScopeCache is safe for
// concurrent use.
type ScopeCache struct {
	m  atomic.Pointer[map[string]apikey.Scopes]
	mu sync.Mutex // serialises insertions
}

// Parse returns the Scopes of the canonical list, or zero Scopes for "".
func (c *ScopeCache) Parse(list string) (apikey.Scopes, error) {
	if list == "" {
		return apikey.Scopes{}, nil
	}
	if m := c.m.Load(); m != nil {
		if sc, ok := (*m)[list]; ok {
			return sc, nil
		}
	}
	return c.insert(list)
}

// ParseBytes is Parse of the list in b, which it only reads during the
// call, without allocating when the list is cached.
func (c *ScopeCache) ParseBytes(b []byte) (apikey.Scopes, error) {
	if len(b) == 0 {
		return apikey.Scopes{}, nil
	}
	if m := c.m.Load(); m != nil {
		if sc, ok := (*m)[string(b)]; ok { // no allocation
			return sc, nil
		}
	}
	return c.insert(string(b))
}

// insert parses list and keeps it, if there is room.
func (c *ScopeCache) insert(list string) (apikey.Scopes, error) {
	sc, err := apikey.ParseScopes(list)
	if err != nil {
		return apikey.Scopes{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[string]apikey.Scopes
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if len(old) < MaxScopeLists {
		m := make(map[string]apikey.Scopes, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[list] = sc
		c.m.Store(&m)
	}
	return sc, nil
}
