package keyapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// event is what one operation did, for its log record.
type event struct {
	op        string // the Operation; a PATCH's, joined by "+", or "patch" until its body is decoded
	status    int
	actor     *Actor
	keyID     uuid.UUID
	label     string
	scopes    string
	expiry    time.Time      // the key's; zero if never
	source    uuid.UUID      // clone and roll: the original
	active    *bool          // PATCH: the requested state
	newExpiry *time.Time     // PATCH: the requested expiry; the zero time removes it
	grace     *time.Duration // roll
	count     int            // list: keys returned; -1 otherwise
}

func (ev *event) setKey(k apikey.Key) {
	ev.keyID, ev.label, ev.scopes, ev.expiry = k.ID, k.Label, k.Scopes.String(), k.ExpiresAt
}

// logEvent writes the one record of an operation; p is its failure, if any.
// It names the actor and the owner it acts for: the Authorizer's actor
// once it has named one, and before that, or when it refuses, the calling
// key, if the request carries one. It holds no token, digest or
// secret: keys are logged by ID, label and scopes.
func (h *Handler) logEvent(ctx context.Context, ev *event, p *problem) {
	level, status := slog.LevelInfo, ev.status
	if p != nil {
		status = p.Status
		level = slog.LevelWarn
		if status >= 500 {
			level = slog.LevelError
		}
	}
	if !h.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 15)
	attrs = append(attrs, slog.String("op", ev.op), slog.Int("status", status))
	if ev.actor != nil {
		attrs = append(attrs, slog.String("owner", ev.actor.Owner), slog.String("actor", ev.actor.Name))
		if ev.actor.KeyID != uuid.Nil {
			attrs = append(attrs, slog.String("actor_key_id", ev.actor.KeyID.String()))
		}
	}
	if ev.keyID != uuid.Nil {
		attrs = append(attrs, slog.String("key_id", ev.keyID.String()))
	}
	if ev.label != "" {
		attrs = append(attrs, slog.String("label", ev.label))
	}
	if ev.scopes != "" {
		attrs = append(attrs, slog.String("scopes", ev.scopes))
	}
	if !ev.expiry.IsZero() {
		attrs = append(attrs, slog.Time("expires_at", ev.expiry))
	}
	if ev.source != uuid.Nil {
		attrs = append(attrs, slog.String("source_id", ev.source.String()))
	}
	if ev.active != nil {
		attrs = append(attrs, slog.Bool("active", *ev.active))
	}
	if ev.newExpiry != nil {
		v := "never" // the PATCH removes the expiry
		if !ev.newExpiry.IsZero() {
			v = formatTime(*ev.newExpiry)
		}
		attrs = append(attrs, slog.String("set_expires_at", v))
	}
	if ev.grace != nil {
		attrs = append(attrs, slog.Duration("grace", *ev.grace))
	}
	if ev.count >= 0 {
		attrs = append(attrs, slog.Int("count", ev.count))
	}
	if p != nil {
		attrs = append(attrs, slog.String("code", p.Code))
		if p.cause != nil && status >= 500 {
			attrs = append(attrs, slog.Any("err", p.cause))
		}
	}
	h.log.LogAttrs(ctx, level, "keyapi: "+ev.op, attrs...)
}
