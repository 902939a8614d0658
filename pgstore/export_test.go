package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// LatestVersion is the schema version this code migrates to.
var LatestVersion = len(migrations())

// MigrateTo applies the migrations up to version to schema through pool,
// as an older version of the package would.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, schema string, version int) error {
	_, _, err := migrate(ctx, pool, schema, migrations()[:version])
	return err
}
