package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/memstore"
)

// Exit statuses.
const (
	exitOK       = 0
	exitFailure  = 1 // the store failed, or anything else went wrong
	exitUsage    = 2 // bad command line
	exitNotFound = 3 // no key with the given ID, or revoke: no key with the given token
	exitInvalid  = 4 // verify: the token does not verify
)

const exitHelp = `Exit status: 0 success, 1 failure, 2 usage error, 3 no such key (for
revoke: no key with that token), 4 the token does not verify (verify only).`

// Environment variables.
const (
	envDB     = "KEYSCOPE_DB"
	envPrefix = "KEYSCOPE_PREFIX"
	defaultDB = "keyscope.db"
)

// opener opens the store at path, creating it when create is true and
// refusing a missing one otherwise. The func it returns closes the store.
type opener func(path string, create bool) (apikey.Store, func() error, error)

// errNoDatabase is returned by an opener for a missing database it may not
// create.
var errNoDatabase = errors.New("database does not exist")

// cli is one invocation of the command.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
	open           opener
}

// run runs the command line args (without the program name) and returns the
// exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: env, open: openDB}
	return c.run(args)
}

// command is one subcommand. Running it takes two steps: check reads the
// arguments and flags, and run does the work with a Manager over the
// opened store, so that a usage error never creates or opens a database.
type command struct {
	name    string
	args    string // synopsis of the positional arguments and flags
	summary string
	help    string                             // more detail, for --help
	flags   func(fs *flag.FlagSet, o *cmdOpts) // the command's own flags
	nargs   [2]int                             // min and max positional arguments
	create  bool                               // may create the database
	keyArg  bool                               // the first argument is the ID of the key it acts on
	check   func(x *cmdCtx) error              // checks the rest of the arguments and flags
	run     func(c *cli, x *cmdCtx, m *apikey.Manager) error
}

// keyCommand returns a command whose only argument is the ID of the key it
// acts on.
func keyCommand(name, summary, help string, run func(c *cli, x *cmdCtx, m *apikey.Manager) error) command {
	return command{name: name, args: "ID [flags]", summary: summary, help: help, nargs: [2]int{1, 1}, keyArg: true, run: run}
}

// cmdOpts holds every flag's value.
type cmdOpts struct {
	db, prefix string
	json       bool
	label      string
	scopes     string
	owner      string
	ownerSet   bool // --owner was given, perhaps as ""
	expires    string
	grace      string
	limit      int
	before     string
}

// cmdCtx is what a command runs with.
type cmdCtx struct {
	ctx    context.Context
	cli    *cli
	opts   cmdOpts
	args   []string
	create bool // the command may create the database

	// What the command's arguments and flags say, set before the
	// database is opened: id by runCommand for a command with keyArg, the
	// others by the command's check.
	id     uuid.UUID           // the key the command acts on
	newKey apikey.CreateParams // create: the new key
	list   apikey.ListOptions  // list: the owner and page
	grace  time.Duration       // roll: the original's grace period
	token  string              // verify, revoke: the token

	m          *apikey.Manager // set by manager
	closeStore func() error
}

func (c *cli) run(args []string) int {
	global := flag.NewFlagSet("keyscope", flag.ContinueOnError)
	global.SetOutput(c.stderr)
	global.Usage = func() {} // printed below, to stdout for --help
	var gopts cmdOpts
	db, prefix := c.env(envDB), c.env(envPrefix)
	if db == "" {
		db = defaultDB
	}
	if prefix == "" {
		prefix = apikey.DefaultPrefix
	}
	commonFlags(global, &gopts, cmdOpts{db: db, prefix: prefix})
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.mainUsage(c.stdout)
			return exitOK
		}
		c.mainUsage(c.stderr)
		return exitUsage
	}
	rest := global.Args()
	if len(rest) == 0 {
		c.mainUsage(c.stderr)
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			c.mainUsage(c.stdout)
			return exitOK
		}
		cmd := findCommand(rest[0])
		if cmd == nil {
			fmt.Fprintf(c.stderr, "keyscope: unknown command %q; run \"keyscope help\"\n", rest[0])
			return exitUsage
		}
		c.commandUsage(c.stdout, cmd, gopts)
		return exitOK
	}
	cmd := findCommand(name)
	if cmd == nil {
		fmt.Fprintf(c.stderr, "keyscope: unknown command %q; run \"keyscope help\"\n", name)
		return exitUsage
	}
	fs, opts := c.commandFlags(cmd, gopts)
	pos, err := parseCommand(fs, opts, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.commandUsage(c.stdout, cmd, gopts)
			return exitOK
		}
		fmt.Fprintf(c.stderr, "usage: keyscope %s %s\nRun \"keyscope %s --help\" for details.\n", cmd.name, cmd.args, cmd.name)
		return exitUsage
	}
	if len(pos) < cmd.nargs[0] || len(pos) > cmd.nargs[1] {
		fmt.Fprintf(c.stderr, "keyscope %s: want %s\n", cmd.name, argCount(cmd.nargs))
		fmt.Fprintf(c.stderr, "usage: keyscope %s %s\n", cmd.name, cmd.args)
		return exitUsage
	}
	return c.exec(cmd, &cmdCtx{opts: *opts, args: pos})
}

// exec runs cmd and maps its error to an exit status.
func (c *cli) exec(cmd *command, x *cmdCtx) int {
	x.ctx, x.cli, x.create = context.Background(), c, cmd.create
	err := c.runCommand(cmd, x)
	if cerr := x.close(); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil {
		return exitOK
	}
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "keyscope %s: %s\n", cmd.name, ue.msg)
		return exitUsage
	case errors.Is(err, errNoDatabase):
		fmt.Fprintf(c.stderr, "keyscope %s: database %s does not exist; check --db or %s (create makes it)\n", cmd.name, x.opts.db, envDB)
		return exitFailure
	case errors.Is(err, apikey.ErrNotFound):
		fmt.Fprintf(c.stderr, "keyscope %s: no key with ID %s\n", cmd.name, x.args[0])
		return exitNotFound
	case errors.Is(err, errNotVerified):
		return exitInvalid
	case errors.Is(err, errUnknownToken):
		fmt.Fprintf(c.stderr, "keyscope %s: %v\n", cmd.name, err)
		return exitNotFound
	}
	fmt.Fprintf(c.stderr, "keyscope %s: %v\n", cmd.name, err)
	return exitFailure
}

// runCommand checks cmd's arguments, opens the store and runs cmd.
func (c *cli) runCommand(cmd *command, x *cmdCtx) error {
	if cmd.keyArg {
		id, err := parseKeyID(x.args[0])
		if err != nil {
			return err
		}
		x.id = id
	}
	if cmd.check != nil {
		if err := cmd.check(x); err != nil {
			return err
		}
	}
	m, err := x.manager()
	if err != nil {
		return err
	}
	return cmd.run(c, x, m)
}

// manager opens the store and returns a Manager over it. runCommand calls
// it once the command has checked its arguments, so that a usage error
// never creates or opens a database.
func (x *cmdCtx) manager() (*apikey.Manager, error) {
	if x.opts.db == "" {
		return nil, usagef("no database: set --db or %s", envDB)
	}
	if err := checkPrefix(x.opts.prefix); err != nil {
		return nil, usagef("--prefix: %v", err)
	}
	st, closeStore, err := x.cli.open(x.opts.db, x.create)
	if err != nil {
		return nil, err
	}
	// One command, one verification at most: no cache, and so no watch
	// of the store's change reports.
	m, err := apikey.NewManager(apikey.Options{Store: st, Prefix: x.opts.prefix, UsageInterval: -1, CacheTTL: -1})
	if err != nil {
		closeStore()
		return nil, err
	}
	x.m, x.closeStore = m, closeStore
	return m, nil
}

// checkPrefix reports whether the Manager accepts prefix, before any
// database is opened. (The root package does not export its check.)
func checkPrefix(prefix string) error {
	m, err := apikey.NewManager(apikey.Options{Store: memstore.New(), Prefix: prefix, UsageInterval: -1})
	if err != nil {
		return err
	}
	return m.Close()
}

// close closes what manager opened.
func (x *cmdCtx) close() error {
	if x.m == nil {
		return nil
	}
	x.m.Close()
	return x.closeStore()
}

// usageError is a bad argument found by a command; msg names it.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// commonFlags registers the flags every command takes, with the defaults
// in def.
func commonFlags(fs *flag.FlagSet, o *cmdOpts, def cmdOpts) {
	fs.StringVar(&o.db, "db", def.db, "SQLite database `path`, or postgres:// URL (env "+envDB+")")
	fs.StringVar(&o.prefix, "prefix", def.prefix, "token `prefix` of the application's keys (env "+envPrefix+")")
	fs.BoolVar(&o.json, "json", def.json, "print JSON instead of a table")
}

// commandFlags returns cmd's flag set. Its common flags default to the
// values given before the command.
func (c *cli) commandFlags(cmd *command, global cmdOpts) (*flag.FlagSet, *cmdOpts) {
	fs := flag.NewFlagSet("keyscope "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {} // see commandUsage
	o := new(cmdOpts)
	commonFlags(fs, o, global)
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	return fs, o
}

// commandUsage prints cmd's help to w.
func (c *cli) commandUsage(w io.Writer, cmd *command, global cmdOpts) {
	fs, _ := c.commandFlags(cmd, global)
	fs.SetOutput(w)
	fmt.Fprintf(w, "usage: keyscope %s %s\n\n%s\n", cmd.name, cmd.args, cmd.summary)
	if cmd.help != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.help)
	}
	fmt.Fprintf(w, "\nFlags:\n")
	fs.PrintDefaults()
	fmt.Fprintf(w, "\n%s\n", exitHelp)
}

// parseCommand parses a command's flags, registered in fs with their
// values in o, and returns its positional arguments. It records in o
// which flags were given, where the flag's value alone cannot tell: an
// explicit --owner "" from none.
func parseCommand(fs *flag.FlagSet, o *cmdOpts, args []string) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "owner" {
			o.ownerSet = true
		}
	})
	return pos, nil
}

// parseInterspersed parses flags wherever they appear among the positional
// arguments, which it returns; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func argCount(n [2]int) string {
	switch {
	case n[0] == n[1] && n[0] == 0:
		return "no arguments"
	case n[0] == n[1] && n[0] == 1:
		return "1 argument"
	case n[0] == n[1]:
		return fmt.Sprintf("%d arguments", n[0])
	}
	return fmt.Sprintf("%d to %d arguments", n[0], n[1])
}

func findCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func (c *cli) mainUsage(w io.Writer) {
	fmt.Fprintf(w, `usage: keyscope [--db path|URL] [--json] <command> [arguments]

keyscope manages the API keys in a keyscope database: a SQLite file, or
PostgreSQL for a postgres:// URL (its search_path parameter names the
schema of keyscope's tables, if not public).

Commands:
`)
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, `
The database is --db, else $%s, else %s in the working directory.
Run "keyscope <command> --help" for a command's arguments and flags.

%s
`, envDB, defaultDB, exitHelp)
}

// parseKeyID parses a key ID argument.
func parseKeyID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, usagef("%q is not a key ID (a UUID such as 0190c8e4-5f3a-7b1c-9d2e-3f4a5b6c7d8e)", s)
	}
	return id, nil
}

// maxTokenInput is the most that verify and revoke read from standard
// input: far more than any token.
const maxTokenInput = 4096

// readOneToken reads r, the standard input of the command name, which must
// hold exactly one token and nothing but white space around it. Its errors
// never quote the input, which is secret.
func readOneToken(r io.Reader, name string) (string, error) {
	in, err := io.ReadAll(io.LimitReader(r, maxTokenInput+1))
	if err != nil {
		return "", fmt.Errorf("reading the token from standard input: %w", err)
	}
	if len(in) > maxTokenInput {
		return "", usagef("standard input holds more than %d bytes; give one token", maxTokenInput)
	}
	words := strings.Fields(string(in))
	switch len(words) {
	case 0:
		return "", usagef("no token on standard input; give it there, as in: keyscope %s < token.txt", name)
	case 1:
		return words[0], nil
	}
	return "", usagef("standard input holds %d words; give exactly one token", len(words))
}

// tokenArgRisk says why a token must not be given as a command-line
// argument.
const tokenArgRisk = "a token on the command line is saved in the shell history and visible to other users of the machine (ps) while keyscope runs"

// parseExpiry parses when, the value of create's --expires, relative to
// now: a duration from now ("720h"), a date ("2030-01-02", at midnight UTC)
// or an RFC 3339 time. The time must be after now.
func parseExpiry(when string, now time.Time) (time.Time, error) {
	t, ok := parseTime(when, now)
	if !ok {
		return time.Time{}, usagef("--expires: %q is not a duration such as 720h, a date such as 2030-01-02 or an RFC 3339 time such as 2030-01-02T15:04:05Z", when)
	}
	if !t.After(now) {
		return time.Time{}, usagef("--expires: %q (%s) is not in the future", when, formatTime(t))
	}
	return t.UTC(), nil
}

// parseTime parses a duration from now, a date or an RFC 3339 time.
func parseTime(s string, now time.Time) (time.Time, bool) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), true
	}
	for _, layout := range []string{time.DateOnly, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// fileExists reports whether path names an existing file or directory.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
