package browsertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBrowser writes an executable file name into dir and returns its path.
func fakeBrowser(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\nexit 1\n"), 0o755))
	return p
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, []byte("not a program"), 0o644))
	chosen := fakeBrowser(t, dir, "my-chrome")
	onPath := t.TempDir()
	chromiumBrowser := fakeBrowser(t, onPath, "chromium-browser")
	fakeBrowser(t, onPath, "google-chrome")
	last := fakeBrowser(t, t.TempDir(), "chromium")

	tests := []struct {
		name       string
		env        string // EnvChromium
		path       string // PATH
		last       string
		want       string
		wantErr    string // substring of the error
		wantAbsent bool   // the error wraps ErrNoChromium
	}{
		{name: "env names the browser", env: chosen, path: onPath, last: last, want: chosen},
		{name: "env names a missing file", env: "/nonexistent/chromium", path: onPath, last: last,
			wantErr: EnvChromium + "=/nonexistent/chromium: stat /nonexistent/chromium: no such file or directory"},
		{name: "env names a directory", env: dir, path: onPath, last: last, wantErr: dir + ": is a directory"},
		{name: "env names a file that is not executable", env: plain, path: onPath, last: last, wantErr: plain + ": is not executable"},
		{name: "PATH in order: chromium-browser before google-chrome", path: onPath, last: last, want: chromiumBrowser},
		{name: "Debian's path when PATH has none", path: t.TempDir(), last: last, want: last},
		{name: "none anywhere", path: t.TempDir(), last: filepath.Join(dir, "absent"), wantAbsent: true,
			wantErr: "no Chromium: none of chromium, chromium-browser, google-chrome is on PATH, and there is no " + filepath.Join(dir, "absent")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", tc.path)
			got, err := find(func(k string) string {
				if k == EnvChromium {
					return tc.env
				}
				return ""
			}, tc.last)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				return
			}
			require.Error(t, err, "found %q", got)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Equal(t, tc.wantAbsent, errors.Is(err, ErrNoChromium), "errors.Is(err, ErrNoChromium) for %v", err)
		})
	}
}

// outcome records how a test would have ended: skipped or failed, and
// with what message.
type outcome struct {
	testing.TB
	skipped, failed string
}

func (o *outcome) Helper()                           {}
func (o *outcome) Skip(args ...any)                  { o.skipped = fmt.Sprint(args...) }
func (o *outcome) Fatal(args ...any)                 { o.failed = fmt.Sprint(args...) }
func (o *outcome) Fatalf(format string, args ...any) { o.failed = fmt.Sprintf(format, args...) }

func TestMissingChromiumSkipsOrFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"", "0", "1"} {
		t.Run("KEYSCOPE_CI="+ci, func(t *testing.T) {
			t.Setenv(EnvCI, ci)
			o := &outcome{TB: t}
			skipOrFail(o, "no Chromium: none here")
			msg := o.skipped
			if ci == "1" {
				assert.Empty(t, o.skipped, "skipped under CI")
				msg = o.failed
				assert.Contains(t, msg, "failing, not skipping, since KEYSCOPE_CI=1")
			} else {
				assert.Empty(t, o.failed, "failed outside CI")
			}
			assert.Contains(t, msg, "no Chromium: none here", "the reason")
			assert.Contains(t, msg, "apt-get install chromium", "how to install it")
			assert.Contains(t, msg, EnvChromium, "how to name one")
		})
	}
}

// TestWrongEnvFailsEvenOutsideCI checks that a KEYSCOPE_TEST_CHROMIUM
// naming no browser fails the test, naming the path, rather than skipping
// it: the person asked for that browser.
func TestWrongEnvFailsEvenOutsideCI(t *testing.T) {
	t.Setenv(EnvCI, "")
	t.Setenv(EnvChromium, "/nonexistent/chromium")
	o := &outcome{TB: t}
	browserPath(o)
	assert.Empty(t, o.skipped, "skipped")
	assert.Contains(t, o.failed, "KEYSCOPE_TEST_CHROMIUM=/nonexistent/chromium")
}

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"final":                       "final",
		"TestFlows/sign in":           "TestFlows-sign-in",
		`<script>alert(1)</script>"'`: "script-alert-1-script",
		"../../etc/passwd":            "..-..-etc-passwd",
		"":                            "screenshot",
		"ключ":                        "screenshot",
	} {
		assert.Equal(t, want, fileName(in), "fileName(%q)", in)
	}
}
