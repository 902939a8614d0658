package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
)

// printNewKey prints a new key's token, and nothing else, on a line of
// stdout, so that "keyscope create ... > token.txt" stores just the token;
// the key's details and the reminder to store the token go to stderr. With
// --json, stdout is one JSON object, the key and its token, and stderr the
// reminder.
func (c *cli) printNewKey(x *cmdCtx, verb string, k apikey.Key, tok apikey.Token) error {
	if x.opts.json {
		if err := c.printJSON(keyapi.NewKey{Key: k, Token: tok.Reveal()}); err != nil {
			return err
		}
	} else {
		printDetails(c.stderr, k, time.Now())
		if _, err := fmt.Fprintln(c.stdout, tok.Reveal()); err != nil {
			return fmt.Errorf("writing the token: %w", err)
		}
	}
	fmt.Fprintf(c.stderr, "%s key %s. Store its token, printed to standard output, safely now: it is shown only this once and cannot be recovered.\n", verb, k.ID)
	return nil
}

// printKey prints one key as JSON or as details.
func (c *cli) printKey(x *cmdCtx, k apikey.Key) error {
	if x.opts.json {
		return c.printJSON(k)
	}
	printDetails(c.stdout, k, time.Now())
	return nil
}

// printDetails prints one key to w, a field per line.
func printDetails(w io.Writer, k apikey.Key, now time.Time) {
	cloned := "-"
	if k.ClonedFrom != [16]byte{} {
		cloned = k.ClonedFrom.String()
	}
	fmt.Fprintf(w, `ID:          %s
Owner:       %s
Label:       %s
Scopes:      %s
Status:      %s
Created:     %s
Last used:   %s
Expires:     %s
Cloned from: %s
Hint:        %s
`, k.ID, displayOwner(k.Owner, 0), displayLabel(k.Label, 0), k.Scopes, status(k, now), formatTime(k.CreatedAt),
		formatTime(k.LastUsedAt), formatTime(k.ExpiresAt), cloned, k.Hint)
}

// printTable prints keys as a table, one per line.
func (c *cli) printTable(keys []apikey.Key, now time.Time) error {
	if len(keys) == 0 {
		fmt.Fprintln(c.stdout, "No keys.")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tLABEL\tSCOPES\tSTATUS\tCREATED\tLAST USED\tHINT")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, displayOwner(k.Owner, 24), displayLabel(k.Label, 32), k.Scopes,
			status(k, now), formatTime(k.CreatedAt), formatTime(k.LastUsedAt), k.Hint)
	}
	return tw.Flush()
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// status is "active", "inactive" or "expired".
func status(k apikey.Key, now time.Time) string {
	switch {
	case !k.Active:
		return "inactive"
	case k.Expired(now):
		return "expired"
	case !k.ExpiresAt.IsZero():
		return "active (expiring)"
	}
	return "active"
}

// formatTime formats t in UTC to the second, or "never" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// displayLabel makes a label safe to print on a terminal: a label holding
// control characters or tabs (which could move the cursor or break the
// table) is shown quoted, and one longer than max runes, if max > 0, is
// cut with an ellipsis.
func displayLabel(label string, max int) string {
	if max > 0 && utf8.RuneCountInString(label) > max {
		runes := []rune(label)
		label = string(runes[:max-1]) + "…"
	}
	for _, r := range label {
		if !unicode.IsPrint(r) {
			return strconv.Quote(label)
		}
	}
	return label
}

// displayOwner makes an owner safe to print as displayLabel does, and shows
// no owner as "-" (and an owner named "-" quoted).
func displayOwner(owner string, max int) string {
	switch owner {
	case "":
		return "-"
	case "-":
		return strconv.Quote(owner)
	}
	return displayLabel(owner, max)
}

// scopeMessage describes a scope error for the command line.
func scopeMessage(err error) string {
	if se := (*apikey.ScopeError)(nil); errors.As(err, &se) {
		return se.Detail()
	}
	return err.Error()
}
