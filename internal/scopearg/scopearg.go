// Package scopearg parses the scope argument that keyscope's management
// surfaces (the admin HTTP API and the keyscope command) accept: a preset
// name or a comma-separated scope list.
package scopearg

import (
	"strings"

	"github.com/keyscope/apikey"
)

// The preset names Parse accepts.
const (
	Full     = "full"      // apikey.FullAccess, "*:write"
	ReadOnly = "read-only" // apikey.ReadOnly, "*:read"
)

// Usage describes the accepted forms, for help texts and error details.
const Usage = `"full", "read-only" or a comma-separated list such as "campaigns:read,lists:write"`

// Parse returns the scopes named by s: the preset "full" or "read-only", or
// a list parsed by [apikey.ParseScopes]. Spaces around s are ignored. Errors
// wrap [apikey.ErrInvalidScope]; a bad token gives an [*apikey.ScopeError]
// naming it.
func Parse(s string) (apikey.Scopes, error) {
	switch strings.TrimSpace(s) {
	case Full:
		return apikey.FullAccess(), nil
	case ReadOnly:
		return apikey.ReadOnly(), nil
	}
	return apikey.ParseScopes(s)
}
