package sqlitestore

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// TestOpenSettings checks the settings the package documentation promises
// on the connections Open makes.
func TestOpenSettings(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "settings.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pragma := func(db *sql.DB, name string) string {
		t.Helper()
		var v string
		if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for _, c := range []struct {
		handle string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", s.write, "journal_mode", "wal"},
		{"writer", s.write, "synchronous", "1"}, // NORMAL
		{"writer", s.write, "busy_timeout", "5000"},
		{"writer", s.write, "query_only", "0"},
		{"reader", s.read, "journal_mode", "wal"},
		{"reader", s.read, "busy_timeout", "5000"},
		{"reader", s.read, "query_only", "1"},
		{"reader", s.read, "mmap_size", "134217728"},
	} {
		if got := pragma(c.db, c.pragma); got != c.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", c.handle, c.pragma, got, c.want)
		}
	}
	if got := s.write.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool allows %d connections, want 1", got)
	}
}
