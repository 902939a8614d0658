package browsertest_test

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/keyscope/apikey/internal/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// site serves the pages of the tests: each under a strict
// Content-Security-Policy like the settings page's, but for /tall.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'")
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title></head><body>%s<p id="done">done</p></body></html>`, body)
		}
	}
	script := func(js string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, js)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/clean", page(`<script src="/quiet.js"></script><p id="out"></p>`))
	mux.Handle("/quiet.js", script(`console.log("all is well"); console.warn("a warning is no error");`))
	mux.Handle("/inline", page(`<script>document.title = "ran"</script>`))
	mux.Handle("/throws", page(`<script src="/throws.js"></script>`))
	mux.Handle("/throws.js", script(`throw new TypeError("kaboom")`))
	mux.Handle("/console", page(`<script src="/console.js"></script>`))
	mux.Handle("/console.js", script(`console.error("it broke:", 42)`))
	mux.Handle("/missing-css", page(`<link rel="stylesheet" href="/nope.css">`))
	mux.HandleFunc("/nope.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		w.WriteHeader(http.StatusNotFound)
	})
	mux.HandleFunc("/conflict", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `<!doctype html><title>409</title><p id="done">already sent</p>`)
	})
	mux.HandleFunc("/tall", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>tall</title><body style="margin:0"><div style="height:2500px;background:#2456d6">tall</div></body>`)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestTakeConsoleErrors(t *testing.T) {
	ts := site(t)
	tests := []struct {
		page string
		want []string // substrings, one per problem, in order
	}{
		{"/clean", nil},
		{"/conflict", nil}, // the page's own status is the test's to check
		{"/inline", []string{"security: Executing inline script violates the following Content Security Policy directive"}},
		{"/throws", []string{"uncaught exception: Uncaught TypeError: kaboom (" + ts.URL + "/throws.js:1)"}},
		{"/console", []string{"console.error: it broke: 42"}},
		{"/missing-css", []string{"network: Failed to load resource: the server responded with a status of 404 (Not Found) (" + ts.URL + "/nope.css)"}},
	}
	for _, tc := range tests {
		t.Run(strings.TrimPrefix(tc.page, "/"), func(t *testing.T) {
			ctx := browsertest.NewBrowser(t)
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(ts.URL+tc.page), chromedp.WaitVisible(chromedp.CSS("#done"))))
			got := browsertest.TakeConsoleErrors(ctx)
			require.Len(t, got, len(tc.want), "problems: %q", got)
			for i, w := range tc.want {
				assert.Contains(t, got[i], w)
			}
			assert.Empty(t, browsertest.TakeConsoleErrors(ctx), "problems taken twice")
		})
	}
}

func TestScreenshotIsTheFullPage(t *testing.T) {
	keep := t.TempDir()
	t.Setenv(browsertest.EnvScreenshots, keep)
	ts := site(t)
	ctx := browsertest.NewBrowser(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/tall")))

	path := browsertest.Screenshot(t, ctx, "a tall page")
	assert.Equal(t, "a-tall-page.png", filepath.Base(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	require.NoError(t, err, "the screenshot is no PNG")
	assert.InDelta(t, 1280, cfg.Width, 20, "width: the window's, less a scroll bar")
	assert.GreaterOrEqual(t, cfg.Height, 2500, "height: the whole page's, not the window's 900")

	kept, err := os.ReadFile(filepath.Join(keep, "TestScreenshotIsTheFullPage", "a-tall-page.png"))
	require.NoError(t, err, "the copy in %s", browsertest.EnvScreenshots)
	assert.Equal(t, b, kept, "the copy")
}
