package keyapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// createRequest is the body of POST /.
type createRequest struct {
	Label string `json:"label"`
	// Scopes is a preset or a scope list; nil means full access.
	Scopes *string `json:"scopes"`
	// ExpiresAt is an RFC 3339 time; nil means no expiry of its own.
	ExpiresAt *string `json:"expires_at"`
}

// newKey is a decoded create request.
type newKey struct {
	label     string
	scopes    apikey.Scopes
	expiresAt time.Time // zero: none requested
}

// updateRequest is the body of PATCH /{id}. Absent members are left as they
// are.
type updateRequest struct {
	Label  *string `json:"label"`
	Active *bool   `json:"active"`
	// ExpiresAt is an RFC 3339 time, or null to remove the expiry; nil
	// when absent.
	ExpiresAt json.RawMessage `json:"expires_at"`
}

// keyUpdate is a decoded PATCH: the changes it asks for, nil where none.
type keyUpdate struct {
	label  *string
	active *bool
	// expiresAt is the new expiry, in UTC; a pointer to the zero time
	// removes the expiry.
	expiresAt *time.Time
}

// isEmpty reports whether u changes nothing.
func (u keyUpdate) isEmpty() bool { return u.label == nil && u.active == nil && u.expiresAt == nil }

// operations returns the operations u asks for, in the order the
// Authorizer sees them, or OpGet if it changes nothing.
func (u keyUpdate) operations() []Operation {
	ops := make([]Operation, 0, 3)
	if u.label != nil {
		ops = append(ops, OpRename)
	}
	switch {
	case u.active == nil:
	case *u.active:
		ops = append(ops, OpReactivate)
	default:
		ops = append(ops, OpDeactivate)
	}
	if u.expiresAt != nil {
		ops = append(ops, OpSetExpiry)
	}
	if len(ops) == 0 {
		ops = append(ops, OpGet)
	}
	return ops
}

// rollRequest is the body of POST /{id}/roll.
type rollRequest struct {
	// Grace is a Go duration ("24h", "90m"); empty means no grace period.
	Grace string `json:"grace"`
}

// readBody reads r's body, at most limit bytes. A non-empty body must be
// JSON by its Content-Type.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newProblem(http.StatusRequestEntityTooLarge, CodeTooLarge, "",
				"the request body is larger than %d bytes", limit)
		}
		return nil, newProblem(http.StatusBadRequest, CodeMalformed, "", "the request body could not be read")
	}
	if len(data) > 0 && !isJSON(r.Header.Get("Content-Type")) {
		return nil, newProblem(http.StatusUnsupportedMediaType, CodeMediaType, "",
			"the request body must be sent as application/json")
	}
	return data, nil
}

// isJSON reports whether a Content-Type header names JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// decodeCreate parses the body of a create request into its label, scopes
// and expiry, which must be after now. A body that names owner is refused:
// a new key belongs to the caller's owner.
func decodeCreate(data []byte, now time.Time) (newKey, error) {
	if err := refuseFixed(data, "owner"); err != nil {
		return newKey{}, err
	}
	var req createRequest
	if err := decodeObject(data, &req, false); err != nil {
		return newKey{}, err
	}
	nk := newKey{label: req.Label, scopes: apikey.FullAccess()}
	if req.Scopes != nil {
		s, err := apikey.ParseScopesOrPreset(*req.Scopes)
		if err != nil {
			return newKey{}, scopeProblem(err)
		}
		nk.scopes = s
	}
	if req.ExpiresAt != nil {
		exp, err := parseExpiry(*req.ExpiresAt, now)
		if err != nil {
			return newKey{}, err
		}
		nk.expiresAt = exp
	}
	return nk, nil
}

// refuseFixed refuses a body that names one of the members given, in any
// letter case (as encoding/json matches them), before anything else is
// checked, so that the client learns why: a key's owner and scopes are not
// for a request to choose, or to change. It accepts anything else, for the
// decoder to judge.
func refuseFixed(data []byte, members ...string) error {
	var probe struct {
		Owner  json.RawMessage `json:"owner"`
		Scopes json.RawMessage `json:"scopes"`
	}
	if json.Unmarshal(data, &probe) != nil {
		return nil
	}
	for _, m := range members {
		switch {
		case m == "owner" && probe.Owner != nil:
			return newProblem(http.StatusBadRequest, CodeOwnerFixed, "owner",
				"a key belongs to the account the caller acts for, from its creation on; a request cannot choose or change its owner")
		case m == "scopes" && probe.Scopes != nil:
			return newProblem(http.StatusBadRequest, CodeScopesFixed, "scopes",
				"a key's scopes are fixed at creation; create a new key with the scopes you need (or clone one) and delete this one")
		}
	}
	return nil
}

// parseExpiry parses an expires_at member: an RFC 3339 time after now, in
// UTC.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, newProblem(http.StatusBadRequest, CodeInvalid, "expires_at",
			`expires_at must be an RFC 3339 time such as "2030-01-02T15:04:05Z", not %q`, clip(s))
	}
	t = t.UTC()
	switch {
	case !t.After(now):
		return time.Time{}, newProblem(http.StatusBadRequest, CodeInvalid, "expires_at",
			"expires_at must be in the future, not %s", t.Format(time.RFC3339Nano))
	case t.Year() > 9999: // an offset can push year 9999 past what RFC 3339 holds
		return time.Time{}, newProblem(http.StatusBadRequest, CodeInvalid, "expires_at",
			"expires_at must be before the year 10000, not %q", clip(s))
	}
	return t, nil
}

// decodeUpdate parses the body of an update request; a new expiry must be
// after now. A body that names scopes or owner, in any letter case, is
// refused before anything else is checked, so that the client learns why.
func decodeUpdate(data []byte, now time.Time) (keyUpdate, error) {
	if err := refuseFixed(data, "scopes", "owner"); err != nil {
		return keyUpdate{}, err
	}
	var req updateRequest
	if err := decodeObject(data, &req, false); err != nil {
		return keyUpdate{}, err
	}
	u := keyUpdate{label: req.Label, active: req.Active}
	if req.ExpiresAt != nil {
		var exp time.Time // null: remove the expiry
		if string(req.ExpiresAt) != "null" {
			var s string
			if err := json.Unmarshal(req.ExpiresAt, &s); err != nil {
				return keyUpdate{}, newProblem(http.StatusBadRequest, CodeInvalid, "expires_at",
					"expires_at must be a string holding an RFC 3339 time, or null to remove the expiry")
			}
			var err error
			if exp, err = parseExpiry(s, now); err != nil {
				return keyUpdate{}, err
			}
		}
		u.expiresAt = &exp
	}
	return u, nil
}

// decodeRoll parses the body of a roll request, which may be empty, into a
// grace period.
func decodeRoll(data []byte) (time.Duration, error) {
	if err := refuseFixed(data, "owner"); err != nil {
		return 0, err
	}
	var req rollRequest
	if err := decodeObject(data, &req, true); err != nil {
		return 0, err
	}
	if req.Grace == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(req.Grace)
	if err != nil || d < 0 {
		return 0, newProblem(http.StatusBadRequest, CodeInvalid, "grace",
			`grace must be a non-negative Go duration such as "24h" or "90m", not %q`, clip(req.Grace))
	}
	return d, nil
}

// decodeEmpty checks that a clone request's body, if any, is an empty
// object.
func decodeEmpty(data []byte) error {
	if err := refuseFixed(data, "owner"); err != nil {
		return err
	}
	var req struct{}
	return decodeObject(data, &req, true)
}

// decodeObject decodes data, which must be exactly one JSON object with no
// unknown members, into v. An empty body is accepted when emptyOK, and
// leaves v as it is.
func decodeObject(data []byte, v any, emptyOK bool) error {
	switch trimmed := bytes.TrimSpace(data); {
	case len(trimmed) == 0 && emptyOK:
		return nil
	case len(trimmed) == 0 || trimmed[0] != '{':
		// json.Unmarshal would read null into a struct as no change.
		return newProblem(http.StatusBadRequest, CodeMalformed, "", "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return newProblem(http.StatusBadRequest, CodeMalformed, "", "the request body must hold one JSON object and nothing after it")
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the body.
func jsonProblem(err error) *problem {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return newProblem(http.StatusBadRequest, CodeMalformed, "", "the request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newProblem(http.StatusBadRequest, CodeMalformed, "", "the request body ends in the middle of a JSON value")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return newProblem(http.StatusBadRequest, CodeMalformed, "", "the request body must be a JSON object, not %s", typ.Value)
		}
		return newProblem(http.StatusBadRequest, CodeInvalid, typ.Field, "%s must be a %s, not %s", typ.Field, jsonType(typ.Type.String()), typ.Value)
	}
	// encoding/json has no type for unknown members; its message is
	// `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if field, err := strconv.Unquote(name); err == nil {
			return newProblem(http.StatusBadRequest, CodeUnknownField, field, "unknown member %q in the request body", field)
		}
	}
	return newProblem(http.StatusBadRequest, CodeMalformed, "", "the request body is not a valid JSON object")
}

// jsonType names a Go type the way a JSON client thinks of it.
func jsonType(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	}
	return "JSON " + goType
}

// scopeProblem describes an invalid scopes member, naming the bad token.
func scopeProblem(err error) *problem {
	detail := "the scopes are invalid"
	if se := (*apikey.ScopeError)(nil); errors.As(err, &se) {
		detail = se.Detail()
	}
	return newProblem(http.StatusBadRequest, CodeInvalid, "scopes", "%s", detail)
}

// parseID parses a key ID from the path. A malformed ID names no key.
func parseID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, notFound(s)
	}
	return id, nil
}

func notFound(id string) *problem {
	return newProblem(http.StatusNotFound, CodeNotFound, "id", "there is no key %q", clip(id))
}

// clip shortens client input that a problem detail quotes back.
func clip(s string) string {
	const max = 48
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}

// parseListQuery parses the limit and before parameters of a list request.
func parseListQuery(r *http.Request) (apikey.ListOptions, error) {
	q := r.URL.Query()
	opts := apikey.ListOptions{Limit: DefaultPageSize}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			return opts, newProblem(http.StatusBadRequest, CodeMalformed, "limit",
				"limit must be a whole number from 1 to %d, not %q", MaxPageSize, clip(s))
		}
		opts.Limit = n
	}
	if s := q.Get("before"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return opts, newProblem(http.StatusBadRequest, CodeMalformed, "before",
				"before must be a key ID, the next cursor of the previous page, not %q", clip(s))
		}
		opts.Before = id
	}
	return opts, nil
}
