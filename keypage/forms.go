package keypage

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyscope/apikey"
)

// The access choices of the create form.
const (
	accessFull     = "full"
	accessReadOnly = "read-only"
	accessCustom   = "custom"
)

// createForm is the create form as shown and as sent back: the values to
// show in its fields and the errors to show next to them.
type createForm struct {
	Label   string
	Access  string                   // accessFull, accessReadOnly or accessCustom
	Grants  map[string]apikey.Access // the Custom picker, by resource
	Expires string                   // YYYY-MM-DD, or ""
	// Ignored lists the ?scopes= entries of a link that could not be
	// applied, each with its reason.
	Ignored []string
	Errors  fieldErrors
}

// fieldErrors maps a form field to the message shown next to it; "" is the
// form as a whole.
type fieldErrors map[string]string

// The fields of the page's forms, as fieldErrors names them.
const (
	fieldLabel   = "label"
	fieldAccess  = "access"
	fieldExpires = "expires"
	fieldGrace   = "grace"
	fieldForm    = ""
)

// Level returns the picker's choice for resource: "none", "read" or "write".
func (f *createForm) Level(resource string) string { return f.Grants[resource].String() }

// dateLayout is the layout of the expiry date field (an HTML date input).
const dateLayout = "2006-01-02"

// prefill applies a "create key" link's ?scopes= to f: a preset ("full",
// "read-only", "*:write", "*:read") chooses it; grants of catalog
// resources choose Custom and set the picker. Every entry that cannot be
// applied (malformed, an unknown resource, a "*" grant beside others) is
// listed in f.Ignored with the reason, never dropped silently. Empty
// entries, such as a trailing comma leaves, are skipped.
func (h *Handler) prefill(f *createForm, list string) {
	var entries []string
	for e := range strings.SplitSeq(list, ",") {
		if e = strings.TrimSpace(e); e != "" {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		f.Ignored = append(f.Ignored, `the link's scopes are empty: choose the key's access below`)
		return
	}
	// A link names each resource once or twice; a longer list is not one
	// a person wrote, and reading it all would make a page of any size.
	if limit := 2*len(h.resources) + 2; len(entries) > limit {
		f.Ignored = append(f.Ignored, fmt.Sprintf("the link lists %d scopes, more than this application has resources for: only the first %d were read, and those from %q on were not",
			len(entries), limit, clip(entries[limit])))
		entries = entries[:limit]
	}
	preset, presetEntry := "", "" // the broadest preset named, and as the link wrote it
	for _, e := range entries {
		switch e {
		case apikey.PresetFull, "*:write", "*:full":
			preset, presetEntry = accessFull, e
			continue
		case apikey.PresetReadOnly, "*:read":
			if preset != accessFull {
				preset, presetEntry = accessReadOnly, e
			}
			continue
		}
		s, err := h.catalog.ParseScopes(e)
		if err != nil {
			var se *apikey.ScopeError
			if errors.As(err, &se) {
				f.Ignored = append(f.Ignored, se.Detail())
			} else {
				f.Ignored = append(f.Ignored, fmt.Sprintf("%q: %v", e, err))
			}
			continue
		}
		if s.Access(apikey.AllResources) != apikey.None || len(s.Grants()) == 0 {
			f.Ignored = append(f.Ignored, fmt.Sprintf("%q is not a grant the picker can show", e))
			continue
		}
		for _, g := range s.Grants() {
			f.Grants[g.Resource] = max(f.Grants[g.Resource], g.Access)
		}
	}
	hasGrants := false
	for _, a := range f.Grants {
		hasGrants = hasGrants || a != apikey.None
	}
	switch {
	case preset != "" && hasGrants:
		// "*:read,lists:write": a wildcard cannot be shown beside
		// per-resource choices, so show the choices and say so.
		f.Access = accessCustom
		f.Ignored = append(f.Ignored, fmt.Sprintf("%q applies to every resource and cannot be combined with access to single resources: the resources the link names are chosen below; choose Full access or Read-only instead if that is what you want", presetEntry))
	case preset != "":
		f.Access = preset
	case hasGrants:
		f.Access = accessCustom
	}
}

// parseCreate reads a sent create form. It returns the form, to show again
// with its errors if there are any, and the scopes and expiry it asks for.
func (h *Handler) parseCreate(v url.Values, now time.Time) (*createForm, apikey.Scopes, time.Time) {
	f := &createForm{
		Label:   v.Get("label"),
		Access:  v.Get("access"),
		Grants:  map[string]apikey.Access{},
		Expires: strings.TrimSpace(v.Get("expires")),
		Errors:  fieldErrors{},
	}
	if msg := checkLabel(f.Label); msg != "" {
		f.Errors[fieldLabel] = msg
	}
	for _, res := range h.resources {
		a := apikey.None
		if s := v.Get("scope:" + res.Name); s != "" {
			var err error
			if a, err = apikey.ParseAccess(s); err != nil {
				f.Errors[fieldAccess] = fmt.Sprintf("Choose none, read or write for %s.", res.Label)
			}
		}
		f.Grants[res.Name] = a
	}
	var scopes apikey.Scopes
	switch f.Access {
	case "", accessFull:
		f.Access, scopes = accessFull, apikey.FullAccess()
	case accessReadOnly:
		scopes = apikey.ReadOnly()
	case accessCustom:
		var grants []apikey.Scope
		for _, res := range h.resources {
			if a := f.Grants[res.Name]; a != apikey.None {
				grants = append(grants, apikey.Scope{Resource: res.Name, Access: a})
			}
		}
		if len(grants) == 0 {
			if f.Errors[fieldAccess] == "" {
				f.Errors[fieldAccess] = "Choose read or write for at least one resource, or choose Full access or Read-only."
			}
			break
		}
		s, err := apikey.NewScopes(grants...)
		if err != nil {
			f.Errors[fieldAccess] = "These choices cannot be granted: " + err.Error()
			break
		}
		scopes = s
	default:
		f.Errors[fieldAccess] = "Choose Full access, Read-only or Custom."
		f.Access = accessFull
	}
	var expires time.Time
	if f.Expires != "" {
		t, err := time.Parse(dateLayout, f.Expires)
		switch {
		case err != nil:
			f.Errors[fieldExpires] = "Enter the expiry as a date, such as 2030-01-31, or leave it empty for a key that never expires."
		case !t.After(now):
			f.Errors[fieldExpires] = "The expiry date must be in the future: the key stops working at the start of that day (UTC)."
		default:
			expires = t
		}
	}
	return f, scopes, expires
}

// checkLabel returns what is wrong with a key's name, for a person, or "".
func checkLabel(label string) string {
	switch {
	case strings.TrimSpace(label) == "":
		return "Give the key a name: what will use it, such as “shop integration”."
	case !utf8.ValidString(label):
		return "The name must be text."
	case len(label) > apikey.MaxLabelLen:
		return fmt.Sprintf("The name is too long: at most %d bytes.", apikey.MaxLabelLen)
	}
	return ""
}

// graceChoice is one period a rolled key may keep working.
type graceChoice struct {
	Value string // as keyapi takes it: a Go duration
	Label string
}

// graces are the grace periods the roll form offers.
var graces = []graceChoice{
	{"0s", "Stop it now"},
	{"1h", "1 hour"},
	{"24h", "24 hours"},
	{"168h", "7 days"},
	{"720h", "30 days"},
}

// defaultGrace is the roll form's choice until the person picks another.
const defaultGrace = "24h"

// parseGrace returns the grace period value, which must be one of graces.
func parseGrace(value string) (time.Duration, bool) {
	for _, g := range graces {
		if g.Value == value {
			d, err := time.ParseDuration(g.Value)
			return d, err == nil
		}
	}
	return 0, false
}

// clip shortens s, an entry of a link, to a length fit to show.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
