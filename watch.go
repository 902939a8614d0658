package apikey

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// watchState follows a Manager's watch of its store's change reports (see
// Notifier). It is guarded by mu, apart from the fields set once before the
// watch starts.
type watchState struct {
	mu      sync.Mutex
	live    bool          // the store reports changes now
	ended   bool          // no watch runs: none was started, or it returned
	err     error         // why no watch runs, when ended
	resumed bool          // the watch has been live before (for the log)
	change  chan struct{} // closed, and replaced, when live or ended change
	logNext time.Time     // no record of a loss before, by the Manager's clock
	losses  int           // losses not logged since the last record

	short, long time.Duration // CacheTTL and NotifiedCacheTTL
	cancel      context.CancelFunc
	done        chan struct{} // closed when the watch's goroutine ends
}

// init makes ws the state of a Manager that does not watch, for reason.
func (ws *watchState) init(reason error) {
	ws.ended, ws.err = true, reason
	ws.change = make(chan struct{})
}

// changed wakes WaitWatching's callers. ws.mu must be held.
func (ws *watchState) changed() {
	close(ws.change)
	ws.change = make(chan struct{})
}

// startWatch watches n's change reports in the background until Close,
// keeping cache records for long while they flow and for short otherwise.
func (m *Manager) startWatch(n Notifier, short, long time.Duration) {
	ws := &m.watch
	ctx, cancel := context.WithCancel(context.Background())
	ws.short, ws.long = short, long
	ws.cancel, ws.done = cancel, make(chan struct{})
	ws.ended, ws.err = false, nil
	go func() {
		defer close(ws.done)
		err := n.Watch(ctx, managerWatcher{m})
		m.endWatch(ctx, err)
	}()
}

// stopWatch ends the watch, if one runs, and waits for its goroutine.
func (m *Manager) stopWatch() {
	if m.watch.cancel != nil {
		m.watch.cancel()
		<-m.watch.done
	}
}

// endWatch records that the store's Watch returned err, with ctx the
// context it ran under.
func (m *Manager) endWatch(ctx context.Context, err error) {
	ws := &m.watch
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.live {
		ws.live = false
		m.cache.reset(ws.short)
	}
	ws.ended = true
	switch {
	case ctx.Err() != nil:
		ws.err = fmt.Errorf("apikey: the Manager is closed: %w", ErrClosed)
	case err == nil:
		ws.err = fmt.Errorf("apikey: the store's Watch returned without an error, breaking the Notifier contract: %w", ErrStoreContract)
	default:
		ws.err = fmt.Errorf("apikey: watching the store's changes: %w", err)
	}
	if ctx.Err() == nil {
		if errors.Is(err, errors.ErrUnsupported) {
			m.log.Info("apikey: the store does not report key changes; cached keys are kept for CacheTTL", "err", err, "cache_ttl", ws.short)
		} else {
			m.log.Error("apikey: the store stopped reporting key changes for good; cached keys are kept for CacheTTL", "err", err, "cache_ttl", ws.short)
		}
	}
	ws.changed()
}

// managerWatcher is the Watcher through which a Manager follows its
// store's reports.
type managerWatcher struct{ m *Manager }

// Watching implements Watcher: every transition drops every cached record,
// and sets how long new ones are kept.
func (w managerWatcher) Watching(listening bool) {
	m := w.m
	ws := &m.watch
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.ended {
		return // a store calling after its Watch returned
	}
	was := ws.live
	ws.live = listening
	if listening {
		// Even a repeated Watching(true) may follow missed changes.
		m.cache.reset(ws.long)
		if !was && ws.resumed && ws.losses == 0 {
			m.log.Info("apikey: the store reports key changes again; cached keys were dropped", "cache_ttl", ws.long)
		}
		ws.resumed = true
	} else {
		m.cache.reset(ws.short)
		if was {
			m.logLoss()
		}
	}
	if was != listening {
		ws.changed()
	}
}

// logLoss logs that the store stopped reporting changes, at most once per
// StoreFailureLogInterval by the Manager's clock, with the count of the
// losses left out since the last record, so that a flapping connection, or
// a store telling a watcher that fell behind to start afresh, cannot flood
// the log. A loss left out leaves out its recovery's record too.
// m.watch.mu must be held.
func (m *Manager) logLoss() {
	ws := &m.watch
	now := m.nowFn()
	if now.Before(ws.logNext) {
		ws.losses++
		return
	}
	n := ws.losses
	ws.losses, ws.logNext = 0, now.Add(StoreFailureLogInterval)
	m.log.Warn("apikey: the store stopped reporting key changes; cached keys were dropped, and are kept for CacheTTL until the reports resume",
		"cache_ttl", ws.short, "suppressed", n)
}

// Changed implements Watcher.
func (w managerWatcher) Changed(id uuid.UUID) { w.m.cache.invalidate(id) }

// Watching reports whether the Manager receives its Store's change reports
// now, so that a key changed anywhere (deactivated on another instance of
// the application, say) stops verifying here as soon as the store reports
// it. The Manager watches when its Store is a [Notifier] and its cache is
// on; while it watches, cached records are kept for
// Options.NotifiedCacheTTL, and otherwise for Options.CacheTTL. A Manager
// that watches but has lost its store's reports (a dropped connection,
// say) reports false until they resume.
func (m *Manager) Watching() bool {
	m.watch.mu.Lock()
	defer m.watch.mu.Unlock()
	return m.watch.live
}

// WaitWatching waits until the Manager receives its Store's change reports
// (see [Manager.Watching]), and returns nil then, or ctx's error if ctx ends
// first. An application whose instances must refuse a revoked key at once
// can wait for it before serving. It returns an error wrapping
// errors.ErrUnsupported at once when the Manager does not watch (its Store
// is not a Notifier, the cache is off, or Options.NotifiedCacheTTL is
// negative) or its store cannot report changes, and one wrapping ErrClosed
// after Close.
func (m *Manager) WaitWatching(ctx context.Context) error {
	ws := &m.watch
	for {
		ws.mu.Lock()
		live, ended, err, ch := ws.live, ws.ended, ws.err, ws.change
		ws.mu.Unlock()
		switch {
		case live:
			return nil
		case ended:
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
