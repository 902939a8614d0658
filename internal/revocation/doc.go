// Package revocation measures how long a key revoked through one instance
// of an application keeps verifying on another: its benchmarks run two
// Managers on one store, as two instances behind a load balancer would, and
// time each Deactivate through one until the other refuses the key. It has
// no code of its own beyond its tests; run
//
//	go test -run '^$' -bench . -benchtime 200x ./internal/revocation
//
// for the figures the README gives (p50 and p99 over 200 trials).
package revocation
