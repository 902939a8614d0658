package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
)

var (
	// errNotVerified is returned by verify for a token that does not
	// verify, after it has said why.
	errNotVerified = errors.New("token does not verify")
	// errUnknownToken is returned by revoke for a token that is not that
	// of a key in the database.
	errUnknownToken = errors.New("the token matches no key in this database: it is malformed, names an unknown key or has the wrong secret (check --db and --prefix)")
)

// commands lists the subcommands in the order help shows them.
var commands = []command{
	{
		name:    "create",
		args:    "--label LABEL [--scopes SCOPES] [--owner OWNER] [--expires WHEN] [flags]",
		summary: "Create a key and print its token, once.",
		help: `Scopes are "` + apikey.PresetFull + `" (the default), "` + apikey.PresetReadOnly + `", or a comma-separated list
of resource:access grants such as "campaigns:read,lists:write"; write
covers read and "*" stands for every resource. The owner is the account
the key belongs to, such as acct_42 (none by default). Neither can be
changed later.

The token, and nothing else, is printed to standard output, once: store
it now, as in "keyscope create --label shop > token.txt". The key's
details and a reminder go to standard error. With --json, standard
output is one JSON object: the key and its "token".
create makes the database if it does not exist.`,
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.StringVar(&o.label, "label", "", "what the key is for (required)")
			fs.StringVar(&o.scopes, "scopes", apikey.PresetFull,
				"`scopes`: "+apikey.PresetFull+", "+apikey.PresetReadOnly+" or a list such as campaigns:read,lists:write")
			fs.StringVar(&o.owner, "owner", "", "the `owner` of the key: the account it belongs to, such as acct_42 (default none)")
			fs.StringVar(&o.expires, "expires", "",
				"`when` the key stops verifying: a duration from now (720h), a date (2030-01-02, midnight UTC) or an RFC 3339 time (default never)")
		},
		nargs:  [2]int{0, 0},
		create: true,
		check:  checkCreate,
		run:    runCreate,
	},
	{
		name:    "list",
		args:    "[--owner OWNER] [--limit N] [--before ID] [flags]",
		summary: "List keys, newest first.",
		help: `Without --owner, the keys of every owner; with --owner, only that owner's
(--owner "" lists the keys without an owner). Secrets and digests are
never shown; the hint is the token's prefix and last four characters.`,
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.StringVar(&o.owner, "owner", "", "list only the keys of this `owner` (default every owner's)")
			fs.IntVar(&o.limit, "limit", 0, "list at most `N` keys (0: all)")
			fs.StringVar(&o.before, "before", "", "list only keys older than the key with this `ID`, for paging")
		},
		nargs: [2]int{0, 0},
		check: checkList,
		run:   runList,
	},
	keyCommand("show", "Show one key.", "", printResult((*apikey.Manager).Get)),
	{
		name:    "rename",
		args:    "ID LABEL [flags]",
		summary: "Change a key's label.",
		nargs:   [2]int{2, 2},
		keyArg:  true,
		run:     runRename,
	},
	keyCommand("activate", "Let a deactivated key verify again.", "", printResult((*apikey.Manager).Activate)),
	keyCommand("deactivate", "Stop a key from verifying, at once, without deleting it.", "", printResult((*apikey.Manager).Deactivate)),
	{
		name:    "revoke",
		args:    "[flags] < TOKEN-FILE",
		summary: "Deactivate the key of a leaked token, read from standard input.",
		help: `Reads one token from standard input, which keeps it out of the shell
history and the process list, as in "keyscope revoke < leaked.txt", and
deactivates its key at once, as deactivate does, then shows the key. The
token must carry its key's secret; whether the key is active or expired
does not matter. A token given as an argument is refused. At a terminal,
paste the token and end the input with Ctrl-D. Exits 3 if the token
matches no key in this database.`,
		nargs: [2]int{0, 1},
		check: checkRevoke,
		run:   runRevoke,
	},
	keyCommand("clone", "Copy a key's owner, label and scopes to a new key and print its token, once.",
		"The original is untouched and keeps working.", runClone),
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
		nargs:  [2]int{1, 1},
		keyArg: true,
		check:  checkRoll,
		run:    runRoll,
	},
	keyCommand("delete", "Delete a key; its token stops verifying at once.", "", runDelete),
	{
		name:    "verify",
		args:    "[flags] < TOKEN-FILE",
		summary: "Check a token, read from standard input, and show its key.",
		help: `Reads one token from standard input, which keeps it out of the shell
history and the process list, as in "keyscope verify < token.txt". At a
terminal, paste the token and end the input with Ctrl-D. A token given as
an argument is still accepted, with a warning on standard error: it is
saved in the shell history and visible to other users in the process
list. Exits 0 if the token verifies and 4, saying why, if it does not.
Verifying here does not count as a use of the key.`,
		nargs: [2]int{0, 1},
		check: checkVerify,
		run:   runVerify,
	},
}

// printResult returns the run of a command that reads or changes the key
// its argument names with op, a method of the Manager, and prints the key
// op returns.
func printResult(op func(m *apikey.Manager, ctx context.Context, id uuid.UUID) (apikey.Key, error)) func(c *cli, x *cmdCtx, m *apikey.Manager) error {
	return func(c *cli, x *cmdCtx, m *apikey.Manager) error {
		k, err := op(m, x.ctx, x.id)
		if err != nil {
			return err
		}
		return c.printKey(x, k)
	}
}

// labelError returns err, or for the Manager's ErrInvalidLabel a usage
// error saying what a label must be; what names the label.
func labelError(err error, what string) error {
	if errors.Is(err, apikey.ErrInvalidLabel) {
		return usagef("%s must be non-blank UTF-8 text of at most %d bytes", what, apikey.MaxLabelLen)
	}
	return err
}

// ownerError returns a usage error for an owner that apikey.CheckOwner
// refuses with err.
func ownerError(err error) error {
	return usagef("--owner: %s", strings.TrimPrefix(err.Error(), apikey.ErrInvalidOwner.Error()+": "))
}

func checkCreate(x *cmdCtx) error {
	if x.opts.label == "" {
		return usagef("--label is required")
	}
	scopes, err := apikey.ParseScopesOrPreset(x.opts.scopes)
	if err != nil {
		return usagef("--scopes: %s", scopeMessage(err))
	}
	if err := apikey.CheckOwner(x.opts.owner); err != nil {
		return ownerError(err)
	}
	x.newKey = apikey.CreateParams{Owner: x.opts.owner, Label: x.opts.label, Scopes: scopes}
	if x.opts.expires != "" {
		if x.newKey.ExpiresAt, err = parseExpiry(x.opts.expires, time.Now()); err != nil {
			return err
		}
	}
	return nil
}

func runCreate(c *cli, x *cmdCtx, m *apikey.Manager) error {
	k, tok, err := m.Create(x.ctx, x.newKey)
	if errors.Is(err, apikey.ErrInvalidExpiry) {
		return usagef("--expires: %q is not in the future", x.opts.expires)
	}
	if err != nil {
		return labelError(err, "--label")
	}
	return c.printNewKey(x, "Created", k, tok)
}

func checkList(x *cmdCtx) error {
	if x.opts.limit < 0 {
		return usagef("--limit must not be negative")
	}
	x.list = apikey.ListOptions{AllOwners: !x.opts.ownerSet, Owner: x.opts.owner, Limit: x.opts.limit}
	if x.opts.ownerSet {
		if err := apikey.CheckOwner(x.opts.owner); err != nil {
			return ownerError(err)
		}
	}
	if x.opts.before != "" {
		id, err := uuid.Parse(x.opts.before)
		if err != nil {
			return usagef("--before: %q is not a key ID", x.opts.before)
		}
		x.list.Before = id
	}
	return nil
}

func runList(c *cli, x *cmdCtx, m *apikey.Manager) error {
	keys, err := m.List(x.ctx, x.list)
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

func runRename(c *cli, x *cmdCtx, m *apikey.Manager) error {
	k, err := m.Rename(x.ctx, x.id, x.args[1])
	if err != nil {
		return labelError(err, "the label")
	}
	return c.printKey(x, k)
}

func runClone(c *cli, x *cmdCtx, m *apikey.Manager) error {
	k, tok, err := m.Clone(x.ctx, x.id)
	if err != nil {
		return err
	}
	return c.printNewKey(x, "Cloned "+x.id.String()+" as", k, tok)
}

func checkRoll(x *cmdCtx) error {
	grace, err := time.ParseDuration(x.opts.grace)
	if err != nil || grace < 0 {
		return usagef("--grace must be a non-negative duration such as 24h or 90m, not %q", x.opts.grace)
	}
	x.grace = grace
	return nil
}

func runRoll(c *cli, x *cmdCtx, m *apikey.Manager) error {
	k, tok, err := m.Roll(x.ctx, x.id, x.grace) // all or nothing: a failed roll leaves no new key
	if err != nil {
		return err
	}
	if err := c.printNewKey(x, "Rolled "+x.id.String()+" to", k, tok); err != nil {
		return err
	}
	if orig, err := m.Get(x.ctx, x.id); err == nil {
		fmt.Fprintf(c.stderr, "The original key %s stops verifying at %s.\n", x.id, formatTime(orig.ExpiresAt))
	}
	return nil
}

func runDelete(c *cli, x *cmdCtx, m *apikey.Manager) error {
	k, err := m.Get(x.ctx, x.id)
	if err != nil {
		return err
	}
	if err := m.Delete(x.ctx, x.id); err != nil {
		return err
	}
	if x.opts.json {
		return c.printJSON(struct {
			Deleted uuid.UUID `json:"deleted"`
		}{x.id})
	}
	fmt.Fprintf(c.stdout, "Deleted key %s (%s).\n", x.id, displayLabel(k.Label, 0))
	return nil
}

// checkVerify reads the token from standard input, or takes it from the
// argument, which it accepts as earlier versions did but warns about on
// standard error.
func checkVerify(x *cmdCtx) error {
	if len(x.args) > 0 && x.args[0] != "-" {
		fmt.Fprintf(x.cli.stderr, "keyscope verify: warning: %s; give it on standard input instead, as in: keyscope verify < token.txt\n", tokenArgRisk)
		x.token = x.args[0]
		return nil
	}
	tok, err := readOneToken(x.cli.stdin, "verify")
	if err != nil {
		return err
	}
	x.token = tok
	return nil
}

// checkRevoke reads the token from standard input, and refuses an argument
// (which revoke never accepted), saying why.
func checkRevoke(x *cmdCtx) error {
	if len(x.args) > 0 && x.args[0] != "-" {
		return usagef("give the token on standard input, as in: keyscope revoke < leaked.txt, not as an argument: %s (to deactivate a key by its ID, use deactivate)", tokenArgRisk)
	}
	tok, err := readOneToken(x.cli.stdin, "revoke")
	if err != nil {
		return err
	}
	x.token = tok
	return nil
}

func runRevoke(c *cli, x *cmdCtx, m *apikey.Manager) error {
	k, err := m.Revoke(x.ctx, x.token)
	if errors.Is(err, apikey.ErrInvalidKey) || errors.Is(err, apikey.ErrNotFound) {
		return errUnknownToken // ErrNotFound: the key was deleted meanwhile
	}
	if err != nil {
		return err
	}
	if x.opts.json {
		return c.printJSON(k)
	}
	fmt.Fprintf(c.stdout, "Deactivated key %s: its token no longer verifies.\n", k.ID)
	printDetails(c.stdout, k, time.Now())
	return nil
}

func runVerify(c *cli, x *cmdCtx, m *apikey.Manager) error {
	k, err := m.Verify(x.ctx, x.token)
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
		printDetails(c.stdout, k, time.Now())
	} else {
		fmt.Fprintf(c.stdout, "%s: %s\n", reason, why)
	}
	if err != nil {
		return errNotVerified
	}
	return nil
}
