package storekit

import (
	"fmt"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadMigrationsRefusesBadNames(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := map[string]struct {
		files fstest.MapFS
		want  string
	}{
		"gap":       {fstest.MapFS{"m/0001_a.sql": file("x"), "m/0003_c.sql": file("x")}, "0003_c.sql"},
		"duplicate": {fstest.MapFS{"m/0001_a.sql": file("x"), "m/0001_b.sql": file("x")}, "0001_b.sql"},
		"no number": {fstest.MapFS{"m/init.sql": file("x")}, "init.sql"},
		"none":      {fstest.MapFS{"m/README": file("x")}, "no migrations"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := LoadMigrations(tc.files, "m")
			assert.ErrorContains(t, err, tc.want)
		})
	}
	ms, err := LoadMigrations(fstest.MapFS{"m/0001_a.sql": file("one"), "m/0002_b.sql": file("two"), "m/notes.txt": file("x")}, "m")
	require.NoError(t, err)
	assert.Equal(t, []Migration{{1, "0001_a.sql", "one"}, {2, "0002_b.sql", "two"}}, ms)
}

func TestScopeCache(t *testing.T) {
	var c ScopeCache
	for _, list := range []string{"campaigns:read,lists:write", "*:read"} {
		a, err := c.Parse(list)
		require.NoError(t, err)
		b, err := c.ParseBytes([]byte(list))
		require.NoError(t, err)
		assert.Equal(t, list, a.String())
		assert.True(t, a.Equal(b), "Parse and ParseBytes of %q", list)
	}
	sc, err := c.Parse("")
	require.NoError(t, err)
	assert.Equal(t, "", sc.String())
	_, err = c.ParseBytes([]byte("lists:fly"))
	assert.Error(t, err, "a malformed list")

	// Bounded, and safe for concurrent use.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range MaxScopeLists {
				r := fmt.Sprintf("r%d-%d:read", g, i)
				sc, err := c.Parse(r)
				assert.NoError(t, err)
				assert.Equal(t, r, sc.String())
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, MaxScopeLists, len(*c.m.Load()), "lists kept")
	assert.Zero(t, testing.AllocsPerRun(100, func() { c.ParseBytes([]byte("*:read")) }), "allocations of a cached ParseBytes")
}
