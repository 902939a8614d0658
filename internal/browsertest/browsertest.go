// Package browsertest gives tests a real, headless Chromium, driven with
// github.com/chromedp/chromedp:
//
//	func TestPage(t *testing.T) {
//		ctx := browsertest.NewBrowser(t) // a tab of a fresh browser; closed when t ends
//		err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.Click(chromedp.CSS("#go")))
//		...
//		browsertest.Screenshot(t, ctx, "after go") // a PNG under t's temporary directory
//	}
//
// The browser is found the first time a test asks for one, in this order:
//
//   - KEYSCOPE_TEST_CHROMIUM, if set, is the path of the Chromium (or
//     Chrome) binary to run. A path that is not an executable file fails
//     the test: it is a mistake, not a missing browser.
//   - Otherwise the first of chromium, chromium-browser and google-chrome
//     on PATH, else /usr/bin/chromium (Debian's package chromium).
//   - Where there is none, the test is skipped with a message saying how to
//     install Chromium (on Debian: apt-get install chromium) or set
//     KEYSCOPE_TEST_CHROMIUM. With KEYSCOPE_CI=1 in the environment it fails
//     instead, so that CI never passes without having run the browser tests.
//
// Every test gets a browser of its own, started with exactly the flags in
// [Flags] (CI runs as root, hence --no-sandbox), a fresh profile under
// t.TempDir() and a window of 1280×900, and at most [Timeout] to run. The
// browser records what a person would see in the developer tools' console as
// a problem: uncaught exceptions, console.error calls, Content-Security-Policy
// violations and resources that failed to load. [TakeConsoleErrors] returns
// them, for a test that expects one, and when the test ends each one not
// taken fails it. So does a browser that cannot start. When the test ends the package also saves a screenshot of the final
// page (see [Screenshot]), then closes the browser.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jsonv2 "github.com/chromedp/cdproto/cdp/jsonv2"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Environment variables read by the package.
const (
	// EnvChromium names the Chromium or Chrome binary to run, instead of
	// looking for one.
	EnvChromium = "KEYSCOPE_TEST_CHROMIUM"
	// EnvCI, set to 1, turns the skip for a missing Chromium into a
	// failure.
	EnvCI = "KEYSCOPE_CI"
	// EnvScreenshots, if set, names a directory where [Screenshot] keeps a
	// copy of every screenshot, in a subdirectory named after the test, as
	// t.TempDir() is removed when the test ends. CI may keep it as an
	// artifact.
	EnvScreenshots = "KEYSCOPE_TEST_SCREENSHOTS"
)

// Flags are the command-line flags every browser starts with, besides its
// profile directory and window size.
var Flags = []string{
	"--no-sandbox",
	"--headless",
	"--disable-gpu",
	"--disable-background-networking",
	"--disable-component-update",
	"--no-first-run",
}

// Timeout is how long a test may use its browser, from [NewBrowser] on:
// every action after that fails with context.DeadlineExceeded.
const Timeout = 60 * time.Second

// ErrNoChromium is the error [FindChromium] returns, wrapped, when there is
// no Chromium to run.
var ErrNoChromium = errors.New("no Chromium")

// commands are the names looked up on PATH, in order.
var commands = []string{"chromium", "chromium-browser", "google-chrome"}

// fallback is where Debian's package chromium puts the browser.
const fallback = "/usr/bin/chromium"

// FindChromium returns the path of the browser to run, as the package
// documentation describes. The error wraps [ErrNoChromium] when there is
// none; another error means EnvChromium names no executable file.
func FindChromium() (string, error) {
	return find(os.Getenv, fallback)
}

// find is FindChromium with the environment read through getenv and the
// last resort at last.
func find(getenv func(string) string, last string) (string, error) {
	if p := getenv(EnvChromium); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvChromium, p, err)
		}
		return p, nil
	}
	for _, name := range commands {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if executable(last) == nil {
		return last, nil
	}
	return "", fmt.Errorf("%w: none of %s is on PATH, and there is no %s", ErrNoChromium, strings.Join(commands, ", "), last)
}

// executable returns why path is not an executable file, or nil.
func executable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case fi.IsDir():
		return errors.New("is a directory, not the browser's binary")
	case fi.Mode().Perm()&0o111 == 0:
		return errors.New("is not executable")
	}
	return nil
}

// browserPath returns the browser to run, or ends t: with Skip where there
// is none, with Fatal where EnvChromium is wrong or EnvCI is set.
func browserPath(t testing.TB) string {
	t.Helper()
	p, err := FindChromium()
	switch {
	case errors.Is(err, ErrNoChromium):
		skipOrFail(t, err.Error())
	case err != nil:
		t.Fatalf("browsertest: %v", err)
	}
	return p
}

// skipOrFail skips t for the reason given, or fails it under CI.
func skipOrFail(t testing.TB, why string) {
	t.Helper()
	msg := fmt.Sprintf("browsertest: %s; install Chromium (Debian: apt-get install chromium) or set %s to the path of a Chromium or Chrome binary", why, EnvChromium)
	if os.Getenv(EnvCI) == "1" {
		t.Fatal(msg + " (failing, not skipping, since " + EnvCI + "=1)")
		return
	}
	t.Skip(msg)
}

// tab is what the package keeps about a test's browser, in its context.
type tab struct {
	shots string // the directory of its screenshots

	mu        sync.Mutex
	problems  []string
	documents map[string]bool // URLs loaded as pages: their status is the test's to check
}

// tabKey is the context key of a *tab.
type tabKey struct{}

func (tabKey) String() string { return "browsertest tab" }

func tabOf(ctx context.Context) *tab {
	tb, _ := ctx.Value(tabKey{}).(*tab)
	return tb
}

// NewBrowser starts a headless Chromium for t and returns the context of
// its tab, for chromedp's actions; the context ends after [Timeout]. When t
// ends, NewBrowser saves a screenshot of the page as "final", fails t for
// every problem of the console [TakeConsoleErrors] has not taken, and
// closes the browser. Where there is no Chromium it skips t (or fails it,
// with KEYSCOPE_CI=1); a Chromium that cannot start fails it.
func NewBrowser(t testing.TB) context.Context {
	t.Helper()
	path := browserPath(t)
	profile, shots := t.TempDir(), t.TempDir()

	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path)}
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(strings.TrimPrefix(f, "--"), true))
	}
	opts = append(opts, chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))

	timeoutCtx, cancelTimeout := context.WithTimeout(context.Background(), Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(timeoutCtx, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	tb := &tab{shots: shots, documents: map[string]bool{}}
	ctx = context.WithValue(ctx, tabKey{}, tb)
	stop := func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		cancelTimeout()
	}
	// Listen starts the browser, so that one that cannot start fails here.
	if err := chromedp.Listen(ctx, tb.record); err != nil {
		stop()
		t.Fatalf("browsertest: starting %s: %v", path, err)
	}
	t.Cleanup(func() {
		defer stop()
		if ctx.Err() == nil {
			Screenshot(t, ctx, "final")
		} else {
			t.Logf("browsertest: no final screenshot: %v", ctx.Err())
		}
		for _, p := range TakeConsoleErrors(ctx) {
			t.Errorf("browsertest: the browser reported: %s", p)
		}
	})
	return ctx
}

// record notes the problems among the events of the tab. The tab calls it
// in the order the events come, before the command that follows them
// returns.
func (tb *tab) record(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument && ev.Response != nil {
			tb.mu.Lock()
			tb.documents[ev.Response.URL] = true
			tb.mu.Unlock()
		}
		return
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		problem = "uncaught exception: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			desc, _, _ := strings.Cut(d.Exception.Description, "\n")
			problem += " " + desc
		}
		if d.URL != "" {
			problem += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		problem = "console." + string(ev.Type) + ": " + argsText(ev.Args)
	case *log.EventEntryAdded:
		e := ev.Entry
		if e == nil || e.Level != log.EntryLevelError {
			return
		}
		if e.Source == log.EntrySourceNetwork {
			tb.mu.Lock()
			page := tb.documents[e.URL]
			tb.mu.Unlock()
			// A page's own status (a 409 that says a form was sent twice)
			// is the test's to check; so is the favicon the page never asked for.
			if u, err := url.Parse(e.URL); page || err == nil && u.Path == "/favicon.ico" {
				return
			}
		}
		problem = string(e.Source) + ": " + e.Text
		if e.URL != "" && !strings.Contains(e.Text, e.URL) {
			problem += " (" + e.URL + ")"
		}
	default:
		return
	}
	tb.mu.Lock()
	tb.problems = append(tb.problems, problem)
	tb.mu.Unlock()
}

// argsText is the text of a console call's arguments.
func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		var s string
		switch {
		case a.Type == runtime.RemoteObjectTypeString && jsonv2.Unmarshal(a.Value, &s) == nil:
		case a.Description != "":
			s = a.Description
		default:
			s = string(a.Value)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// TakeConsoleErrors returns the problems the browser of ctx, a context
// from [NewBrowser], reported since the last call, and forgets them. They
// are what the developer tools' console would show as errors: uncaught
// exceptions, console.error and console.assert calls, and the browser's own
// errors, such as a Content-Security-Policy violation or a style sheet that
// failed to load. A page's own HTTP status is not a problem: the test
// checks it. Every event the browser sent before the last action returned
// is counted.
func TakeConsoleErrors(ctx context.Context) []string {
	tb := tabOf(ctx)
	if tb == nil {
		panic("browsertest: TakeConsoleErrors needs a context from NewBrowser")
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	p := tb.problems
	tb.problems = nil
	return p
}

// Screenshot saves a full-page PNG of the page of ctx, a context from
// [NewBrowser], as name.png in a directory of t's own, logs its path and
// returns it. With EnvScreenshots set it also keeps a copy there. A failure
// fails t but lets it go on, as a screenshot is evidence, not the test.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	tb := tabOf(ctx)
	if tb == nil {
		t.Fatal("browsertest: Screenshot needs a context from NewBrowser")
		return ""
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("browsertest: screenshot %q: %v", name, err)
		return ""
	}
	path := filepath.Join(tb.shots, fileName(name)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("browsertest: screenshot %q: %v", name, err)
		return ""
	}
	t.Logf("browsertest: screenshot %q: %s", name, path)
	if dir := os.Getenv(EnvScreenshots); dir != "" {
		keep := filepath.Join(dir, fileName(t.Name()), filepath.Base(path))
		err := os.MkdirAll(filepath.Dir(keep), 0o755)
		if err == nil {
			err = os.WriteFile(keep, png, 0o644)
		}
		if err != nil {
			t.Errorf("browsertest: keeping screenshot %q in %s: %v", name, EnvScreenshots, err)
		} else {
			t.Logf("browsertest: screenshot %q kept: %s", name, keep)
		}
	}
	return path
}

// fileName turns s into a file name: letters, digits, '-', '_' and '.',
// every other run of characters a '-'.
func fileName(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
		} else {
			dash = true
		}
	}
	if b.Len() == 0 {
		return "screenshot"
	}
	return b.String()
}
