package dbopen

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsPostgres(t *testing.T) {
	tests := map[string]bool{
		"postgres://u@localhost/db":   true,
		"postgresql://u@localhost/db": true,
		"POSTGRES://u@localhost/db":   true,
		"keyscope.db":                 false,
		"/var/lib/keys.db":            false,
		"postgres.db":                 false,
		"./postgres://x":              false,
		"":                            false,
	}
	for db, want := range tests {
		t.Run(db, func(t *testing.T) {
			assert.Equal(t, want, IsPostgres(db))
		})
	}
}

func TestDescribeHidesPasswords(t *testing.T) {
	tests := map[string]string{
		"postgres://keyscope:s3cret@db.internal:5432/app":         "postgres://keyscope:xxxxx@db.internal:5432/app",
		"postgres://keyscope@db.internal/app?password=s3cret&x=1": "postgres://keyscope@db.internal/app?password=xxxxx&x=1",
		"postgresql://db.internal/app?sslmode=require":            "postgresql://db.internal/app?sslmode=require",
		"postgres://keyscope:s3cret@db.internal:5432/app%zz":      "(a PostgreSQL URL that does not parse)",
		"keyscope.db": "keyscope.db",
	}
	for db, want := range tests {
		t.Run(db, func(t *testing.T) {
			got := Describe(db)
			assert.Equal(t, want, got)
			assert.NotContains(t, got, "s3cret")
		})
	}
}

func TestSchema(t *testing.T) {
	tests := map[string]struct {
		want    string
		wantErr bool
	}{
		"postgres://h/app":                                 {"", false},
		"postgres://h/app?search_path=keyscope":            {"keyscope", false},
		"postgres://h/app?search_path=%22Key%20Scope%22":   {"Key Scope", false},
		"postgres://h/app?search_path=%22Keys%22":          {"Keys", false},
		"postgres://h/app?search_path=a,b":                 {"", true},
		"postgres://h/app?search_path=%22a%22,%22b%22":     {"", true},
		"postgres://h/app?search_path=":                    {"", true},
		"postgres://h/app?sslmode=disable&search_path=k_1": {"k_1", false},
	}
	for db, tc := range tests {
		t.Run(db, func(t *testing.T) {
			got, err := Schema(db)
			if tc.wantErr {
				assert.ErrorContains(t, err, "search_path")
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
