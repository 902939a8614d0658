package sqlitestore

import "database/sql"

// Handles returns the reader and writer handles of s, for the external
// tests of the connection settings.
func Handles(s *Store) (read, write *sql.DB) { return s.read, s.write }
