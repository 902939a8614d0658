package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

// errNotVerified is returned by verify for a token that does not verify,
// after it has said why.
var errNotVerified = errors.New("token does not verify")

// commands lists the subcommands in the order help shows them.
var commands = []command{
	{
		name:    "create",
		args:    "--label LABEL [--scopes SCOPES] [flags]",
		summary: "Create a key and print its token, once.",
		help: `Scopes are "full" (the default), "read-only", or a comma-separated list
of resource:access grants such as "campaigns:read,lists:write"; write
covers read and "*" stands for every resource. They cannot be changed
later. The token is printed to standard output once: store it now.
create makes the database if it does not exist.`,
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.StringVar(&o.label, "label", "", "what the key is for (required)")
			fs.StringVar(&o.scopes, "scopes", apikey.PresetFull, "`scopes`: full, read-only or a list such as campaigns:read,lists:write")
		},
		nargs:  [2]int{0, 0},
		create: true,
		run:    runCreate,
	},
	{
		name:    "list",
		args:    "[--limit N] [--before ID] [flags]",
		summary: "List keys, newest first.",
		help:    "Secrets and digests are never shown; the hint is the token's prefix and last four characters.",
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.IntVar(&o.limit, "limit", 0, "list at most `N` keys (0: all)")
			fs.StringVar(&o.before, "before", "", "list only keys older than the key with this `ID`, for paging")
		},
		nargs: [2]int{0, 0},
		run:   runList,
	},
	{
		name:    "show",
		args:    "ID [flags]",
		summary: "Show one key.",
		nargs:   [2]int{1, 1},
		run:     runShow,
	},
	{
		name:    "rename",
		args:    "ID LABEL [flags]",
		summary: "Change a key's label.",
		nargs:   [2]int{2, 2},
		run:     runRename,
	},
	{
		name:    "activate",
		args:    "ID [flags]",
		summary: "Let a deactivated key verify again.",
		nargs:   [2]int{1, 1},
		run:     func(c *cli, x *cmdCtx) error { return runSetActive(c, x, true) },
	},
	{
		name:    "deactivate",
		args:    "ID [flags]",
		summary: "Stop a key from verifying, at once, without deleting it.",
		nargs:   [2]int{1, 1},
		run:     func(c *cli, x *cmdCtx) error { return runSetActive(c, x, false) },
	},
	{
		name:    "clone",
		args:    "ID [flags]",
		summary: "Create a key with the same label and scopes as another and print its token, once.",
		help:    "The original is untouched and keeps working.",
		nargs:   [2]int{1, 1},
		run:     runClone,
	},
	{
		name:    "roll",
		args:    "ID [--grace DURATION] [flags]",
		summary: "Replace a key: clone it and make the original expire after a grace period.",
		help: `Prints the new key's token, once. The original keeps verifying for the
grace period, so that clients can move to the new token; with --grace 0
(the default) it stops at once, as for a leaked key.`,
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.StringVar(&o.grace, "grace", "0", "how long the original keeps working, a `duration` such as 24h or 90m")
		},
		nargs: [2]int{1, 1},
		run:   runRoll,
	},
	{
		name:    "delete",
		args:    "ID [flags]",
		summary: "Delete a key; its token stops verifying at once.",
		nargs:   [2]int{1, 1},
		run:     runDelete,
	},
	{
		name:    "verify",
		args:    "[TOKEN | -] [flags]",
		summary: "Check a token and show its key.",
		help: `Without TOKEN, or with "-", the token is read from the first line of
standard input, which keeps it out of the shell history and the process
list. Exits 0 if the token verifies and 4, saying why, if it does not.
Verifying here does not count as a use of the key.`,
		nargs: [2]int{0, 1},
		run:   runVerify,
	},
}

func runCreate(c *cli, x *cmdCtx) error {
	if x.opts.label == "" {
		return usagef("--label is required")
	}
	scopes, err := apikey.ParseScopesOrPreset(x.opts.scopes)
	if err != nil {
		return usagef("--scopes: %s", scopeMessage(err))
	}
	m, err := x.manager()
	if err != nil {
		return err
	}
	k, tok, err := m.Create(x.ctx, apikey.CreateParams{Label: x.opts.label, Scopes: scopes})
	if err != nil {
		if errors.Is(err, apikey.ErrInvalidLabel) {
			return usagef("--label must be non-blank UTF-8 text of at most %d bytes", apikey.MaxLabelLen)
		}
		return err
	}
	return c.printNewKey(x, "Created", k, tok)
}

func runList(c *cli, x *cmdCtx) error {
	if x.opts.limit < 0 {
		return usagef("--limit must not be negative")
	}
	opts := apikey.ListOptions{Limit: x.opts.limit}
	if x.opts.before != "" {
		id, err := uuid.Parse(x.opts.before)
		if err != nil {
			return usagef("--before: %q is not a key ID", x.opts.before)
		}
		opts.Before = id
	}
	m, err := x.manager()
	if err != nil {
		return err
	}
	keys, err := m.List(x.ctx, opts)
	if err != nil {
		return err
	}
	if x.opts.json {
		if keys == nil {
			keys = []apikey.Key{}
		}
		return c.printJSON(keys)
	}
	return c.printTable(keys, time.Now())
}

func runShow(c *cli, x *cmdCtx) error {
	id, err := parseKeyID(x.args[0])
	if err != nil {
		return err
	}
	m, err := x.manager()
	if err != nil {
		return err
	}
	k, err := m.Get(x.ctx, id)
	if err != nil {
		return err
	}
	return c.printKey(x, k)
}

func runRename(c *cli, x *cmdCtx) error {
	id, err := parseKeyID(x.args[0])
	if err != nil {
		return err
	}
	m, err := x.manager()
	if err != nil {
		return err
	}
	k, err := m.Rename(x.ctx, id, x.args[1])
	if errors.Is(err, apikey.ErrInvalidLabel) {
		return usagef("the label must be non-blank UTF-8 text of at most %d bytes", apikey.MaxLabelLen)
	}
	if err != nil {
		return err
	}
	return c.printKey(x, k)
}

func runSetActive(c *cli, x *cmdCtx, active bool) error {
	id, err := parseKeyID(x.args[0])
	if err != nil {
		return err
	}
	m, err := x.manager()
	if err != nil {
		return err
	}
	var k apikey.Key
	if active {
		k, err = m.Activate(x.ctx, id)
	} else {
		k, err = m.Deactivate(x.ctx, id)
	}
	if err != nil {
		return err
	}
	return c.printKey(x, k)
}

func runClone(c *cli, x *cmdCtx) error {
	id, err := parseKeyID(x.args[0])
	if err != nil {
		return err
	}
	m, err := x.manager()
	if err != nil {
		return err
	}
	k, tok, err := m.Clone(x.ctx, id)
	if err != nil {
		return err
	}
	return c.printNewKey(x, "Cloned "+id.String()+" as", k, tok)
}

func runRoll(c *cli, x *cmdCtx) error {
	id, err := parseKeyID(x.args[0])
	if err != nil {
		return err
	}
	grace, err := time.ParseDuration(x.opts.grace)
	if err != nil || grace < 0 {
		return usagef("--grace must be a non-negative duration such as 24h or 90m, not %q", x.opts.grace)
	}
	m, err := x.manager()
	if err != nil {
		return err
	}
	k, tok, err := m.Roll(x.ctx, id, grace) // all or nothing: a failed roll leaves no new key
	if err != nil {
		return err
	}
	if err := c.printNewKey(x, "Rolled "+id.String()+" to", k, tok); err != nil {
		return err
	}
	if orig, err := m.Get(x.ctx, id); err == nil {
		fmt.Fprintf(c.stderr, "The original key %s stops verifying at %s.\n", id, formatTime(orig.ExpiresAt))
	}
	return nil
}

func runDelete(c *cli, x *cmdCtx) error {
	id, err := parseKeyID(x.args[0])
	if err != nil {
		return err
	}
	m, err := x.manager()
	if err != nil {
		return err
	}
	k, err := m.Get(x.ctx, id)
	if err != nil {
		return err
	}
	if err := m.Delete(x.ctx, id); err != nil {
		return err
	}
	if x.opts.json {
		return c.printJSON(struct {
			Deleted uuid.UUID `json:"deleted"`
		}{id})
	}
	fmt.Fprintf(c.stdout, "Deleted key %s (%s).\n", id, displayLabel(k.Label, 0))
	return nil
}

func runVerify(c *cli, x *cmdCtx) error {
	var tok string
	if len(x.args) == 0 || x.args[0] == "-" {
		var err error
		if tok, err = readToken(c.stdin); err != nil {
			return err
		}
		if tok == "" {
			return usagef("no token: give one as an argument or on standard input")
		}
	} else {
		tok = x.args[0]
	}
	m, err := x.manager()
	if err != nil {
		return err
	}
	k, err := m.Verify(x.ctx, tok)
	var reason, why string
	switch {
	case err == nil:
	case errors.Is(err, apikey.ErrInvalidKey):
		reason, why = "invalid", "the token is malformed, unknown, or has the wrong secret"
	case errors.Is(err, apikey.ErrInactive):
		reason, why = "inactive", "the key has been deactivated"
	case errors.Is(err, apikey.ErrExpired):
		reason, why = "expired", "the key's expiry has passed"
	default:
		return err
	}
	if x.opts.json {
		out := struct {
			Valid  bool        `json:"valid"`
			Reason string      `json:"reason,omitempty"`
			Key    *apikey.Key `json:"key,omitempty"`
		}{Valid: err == nil, Reason: reason}
		if err == nil {
			out.Key = &k
		}
		if perr := c.printJSON(out); perr != nil {
			return perr
		}
	} else if err == nil {
		fmt.Fprintln(c.stdout, "valid")
		c.printDetails(k, time.Now())
	} else {
		fmt.Fprintf(c.stdout, "%s: %s\n", reason, why)
	}
	if err != nil {
		return errNotVerified
	}
	return nil
}
