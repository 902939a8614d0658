package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/pgtest"
	"github.com/keyscope/apikey/pgstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stateWatcher is an apikey.Watcher that passes on Watching calls, and
// signals Changed ones on a channel that holds one signal at most, for a
// test whose changes are too many to record.
type stateWatcher struct {
	states  chan bool
	changes chan struct{}
}

func (w *stateWatcher) Watching(listening bool) { w.states <- listening }

func (w *stateWatcher) Changed(uuid.UUID) {
	select {
	case w.changes <- struct{}{}:
	default:
	}
}

// expectState waits for the Watching call want.
func (w *stateWatcher) expectState(t *testing.T, want bool, d time.Duration, what string) {
	t.Helper()
	select {
	case got := <-w.states:
		require.Equal(t, want, got, what)
	case <-time.After(d):
		require.FailNow(t, "no Watching call", "waiting %v for %s", d, what)
	}
}

// TestServerRestartUnderLoad stops the server while workers read and
// update keys, and starts it again: while it is down every call fails,
// none gives a wrong answer, and afterwards the same Store works again,
// its pool and its Watch recovering by themselves.
func TestServerRestartUnderLoad(t *testing.T) {
	c := pgtest.NewCluster(t)
	db := c.NewSchema(t)
	ctx := context.Background()
	s, err := pgstore.Open(ctx, db.URL, pgstore.Options{Schema: db.Schema})
	require.NoError(t, err, "Open")
	defer s.Close()

	sw := &stateWatcher{states: make(chan bool, 100), changes: make(chan struct{}, 1)}
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan error, 1)
	go func() { watchDone <- s.Watch(wctx, sw) }()
	defer func() {
		stopWatch()
		<-watchDone
	}()
	sw.expectState(t, true, 5*time.Second, "Watching(true) at the start")

	const workers = 8
	successes := make(chan struct{}, 1<<16)
	failures := make(chan struct{}, 1<<16)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		k := record(t, "acct", "v0")
		require.NoError(t, s.Create(ctx, k), "Create")
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The label is the last one acknowledged, or one of the
			// updates that failed since: a failed update may or may not
			// have committed. A read settles which.
			acked, maybe := "v0", map[string]bool{}
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				got, err := s.Get(cctx, k.ID)
				cancel()
				if err != nil {
					assert.NotErrorIs(t, err, apikey.ErrNotFound, "worker %d: Get of a stored key while the server restarts", w)
					failures <- struct{}{}
				} else {
					if !assert.True(t, got.Label == acked || maybe[got.Label], "worker %d: label %q, want %q or one of %v", w, got.Label, acked, maybe) {
						return
					}
					assert.Equal(t, k.ID, got.ID, "worker %d: ID", w)
					acked, maybe = got.Label, map[string]bool{}
					successes <- struct{}{}
				}
				label := fmt.Sprintf("v%d", n)
				cctx, cancel = context.WithTimeout(ctx, 2*time.Second)
				got, err = s.Update(cctx, k.ID, apikey.Update{Label: &label})
				cancel()
				if err != nil {
					assert.NotErrorIs(t, err, apikey.ErrNotFound, "worker %d: Update of a stored key while the server restarts", w)
					maybe[label] = true
					failures <- struct{}{}
				} else {
					assert.Equal(t, label, got.Label, "worker %d: label Update returns", w)
					acked, maybe = label, map[string]bool{}
					successes <- struct{}{}
				}
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	wait := func(ch <-chan struct{}, n int, d time.Duration, what string) {
		t.Helper()
		deadline := time.After(d)
		for range n {
			select {
			case <-ch:
			case <-deadline:
				require.FailNow(t, "timed out", "waiting %v for %d %s", d, n, what)
			}
		}
	}
	wait(successes, 100, 20*time.Second, "calls to succeed before the stop")
	c.Stop(t)
	wait(failures, 2*workers, 20*time.Second, "calls to fail while the server is down")
	sw.expectState(t, false, 5*time.Second, "Watching(false) once the server is down")
	for len(successes) > 0 { // successes from before the stop
		<-successes
	}
	c.Start(t)
	wait(successes, 100, 30*time.Second, "calls to succeed after the restart")
	// Watch listens again: after Watching(true) comes, a change is reported.
	for {
		select {
		case up := <-sw.states:
			if !up {
				continue // more failed attempts while the server came back
			}
		case <-time.After(10 * time.Second):
			require.FailNow(t, "Watch did not listen again after the restart")
		}
		break
	}
	// The workers' updates go on, and are reported again.
	select {
	case <-sw.changes: // perhaps from before the stop
	default:
	}
	select {
	case <-sw.changes:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no change reported after the restart")
	}
}
