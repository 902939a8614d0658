package memstore

import (
	"context"
	"sync"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// watchBuffer is how many reports a Watch holds for its Watcher before it
// counts itself fallen behind.
const watchBuffer = 1024

// Watch implements apikey.Notifier: it reports to w every Create, every
// Update that sets a field, and every Delete made through s, until ctx is
// done, and then returns ctx's error. It listens from the start and never
// loses its connection, so it calls w.Watching(true) first and
// Watching(false) only when w falls so far behind (watchBuffer reports)
// that reports were dropped; it then calls Watching(true) again at once,
// so that w drops what it may have missed.
// MarkUsed is not reported.
func (s *Store) Watch(ctx context.Context, w apikey.Watcher) error {
	sub := &subscriber{ids: make(chan uuid.UUID, watchBuffer), behind: make(chan struct{}, 1)}
	s.watchers.add(sub)
	defer s.watchers.remove(sub)
	w.Watching(true)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case id := <-sub.ids:
			w.Changed(id)
		case <-sub.behind:
			// Reports were dropped: say so, forget the rest of the
			// buffer, which Watching(true) covers, and go on.
			w.Watching(false)
			for len(sub.ids) > 0 {
				<-sub.ids
			}
			w.Watching(true)
		}
	}
}

// watchers is the set of a Store's running Watches. It is safe for
// concurrent use.
type watchers struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

// subscriber is one running Watch.
type subscriber struct {
	ids    chan uuid.UUID // reports not yet passed on
	behind chan struct{}  // holds a token when a report was dropped
}

func (ws *watchers) add(sub *subscriber) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.subs == nil {
		ws.subs = make(map[*subscriber]struct{})
	}
	ws.subs[sub] = struct{}{}
}

func (ws *watchers) remove(sub *subscriber) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	delete(ws.subs, sub)
}

// changed reports id to every running Watch, without ever blocking: a Watch
// whose buffer is full is told it fell behind instead. It is called after
// the change, with the Store's lock released.
func (ws *watchers) changed(id uuid.UUID) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for sub := range ws.subs {
		select {
		case sub.ids <- id:
		default:
			select {
			case sub.behind <- struct{}{}:
			default:
			}
		}
	}
}
