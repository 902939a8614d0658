package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/keyscope/apikey"
)

// Reconnection and liveness settings of Watch.
const (
	// minBackoff and maxBackoff bound the pause between attempts to listen
	// again: it starts at minBackoff and doubles up to maxBackoff.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
	// connectTimeout bounds one attempt to connect and LISTEN.
	connectTimeout = 10 * time.Second
	// idleCheck is how long the listening connection may stay silent
	// before Watch pings the server, so that a connection lost without a
	// word (a dropped network path) is noticed within idleCheck+pingTimeout,
	// three seconds: sooner than apikey.DefaultCacheTTL, so that a Manager
	// with the default settings never trusts its cache longer than it
	// would without reports. A ping a second costs the server nothing.
	idleCheck   = time.Second
	pingTimeout = 2 * time.Second
)

// Watch implements apikey.Notifier with PostgreSQL's LISTEN/NOTIFY. It
// opens a connection of its own, outside the pool, with the pool's
// settings, LISTENs on the schema's channel ([Channel]), and calls
// w.Watching(true); then it reports every notification with w.Changed.
// The notifications come from triggers on the keys table, sent by the
// transaction that makes the change and delivered only if it commits: an
// insert, a delete, or an update of anything but last_used_at (MarkUsed
// is not reported), whoever made it. A TRUNCATE of the table is reported
// as w.Watching(false) followed by w.Watching(true), which tells the
// watcher to treat everything it knows as stale.
//
// When the connection is lost (the server restarted, the backend was
// terminated, or it did not answer a ping after idleCheck of silence),
// Watch calls w.Watching(false), and tries to listen again after 50 ms,
// then at growing intervals up to one second, calling w.Watching(true)
// once it does. It returns ctx's error once ctx is done, and an error
// wrapping apikey.ErrClosed once the Store is closed, without a last
// Watching(false): its return says that it stopped. Payloads that are not
// a key ID are ignored.
func (s *Store) Watch(ctx context.Context, w apikey.Watcher) error {
	s.closeMu.Lock()
	if s.closed.Load() {
		s.closeMu.Unlock()
		return closedError("watching")
	}
	s.watches.Add(1)
	s.closeMu.Unlock()
	defer s.watches.Done()

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	end := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return closedError("watching")
	}
	backoff := minBackoff
	for {
		if conn, err := s.listen(wctx); err == nil {
			w.Watching(true)
			s.receive(wctx, conn, w)
			closeCtx, cancelClose := context.WithTimeout(context.Background(), time.Second)
			conn.Close(closeCtx)
			cancelClose()
			if wctx.Err() != nil {
				return end() // the return says it all: no Watching(false)
			}
			w.Watching(false)
			backoff = minBackoff
		}
		if wctx.Err() != nil {
			return end()
		}
		t := time.NewTimer(backoff)
		select {
		case <-wctx.Done():
			t.Stop()
			return end()
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen opens a connection with the pool's settings and LISTENs on the
// Store's channel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig
	// Cancelling a wait for notifications needs no cancel request to the
	// server (there is no statement to cancel): end the wait at once.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// receive reports the notifications conn receives to w until ctx is done
// or conn fails.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn, w apikey.Watcher) {
	for {
		wctx, cancel := context.WithTimeout(ctx, idleCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
			continue
		case err != nil:
			return
		case n.Channel != s.channel:
			continue
		}
		id, all, ok := parsePayload(n.Payload)
		switch {
		case all:
			w.Watching(false)
			w.Watching(true)
		case ok:
			w.Changed(id)
		}
	}
}

// parsePayload reads a notification's payload: a key ID in its 36-character
// text form, or "*" for every key. ok is false for anything else.
func parsePayload(p string) (id uuid.UUID, all, ok bool) {
	if p == "*" {
		return uuid.Nil, true, true
	}
	if len(p) != 36 {
		return uuid.Nil, false, false
	}
	id, err := uuid.Parse(p)
	if err != nil {
		return uuid.Nil, false, false
	}
	return id, false, true
}
