package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/internal/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file click through the settings page in a real,
// headless Chromium, as a person would, each with a server and a browser of
// its own. Where there is no Chromium they skip (they fail with
// KEYSCOPE_CI=1); see internal/browsertest. Every test fails for a script
// error or a Content-Security-Policy violation the browser reports, and
// saves a screenshot of its final page.

// browserPage is a browser signed in to the settings page of an example
// server, as the owner of the account "demo".
type browserPage struct {
	t   *testing.T
	ctx context.Context
	s   server
}

// openSettings starts an example server over a fresh SQLite database and
// a browser, and signs in with the link the server printed.
func openSettings(t *testing.T) browserPage {
	t.Helper()
	ctx := browsertest.NewBrowser(t) // first, so as to skip before starting a server
	s := startServer(t, filepath.Join(t.TempDir(), "keys.db"))
	require.NotEmpty(t, s.signIn, "the server printed no sign-in link")
	p := browserPage{t: t, ctx: ctx, s: s}
	require.Equal(t, http.StatusOK, p.navigate(s.signIn), "the sign-in link")
	require.Equal(t, http.StatusOK, p.follow("#signin"), "signing in")
	require.Equal(t, s.base+settingsPath+"/", p.location(), "where signing in leads")
	return p
}

// do runs actions in the page, which must succeed.
func (p browserPage) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	require.NoError(p.t, chromedp.Do(p.ctx, actions...))
}

// navigate opens url and returns the HTTP status of the page.
func (p browserPage) navigate(url string) int {
	p.t.Helper()
	resp, err := chromedp.Run(p.ctx, chromedp.NavigateResponse(url))
	require.NoError(p.t, err, "opening %s", url)
	return int(resp.Status)
}

// follow clicks what sel selects, a link or a button that loads a page,
// and returns the HTTP status of the page it loads.
func (p browserPage) follow(sel string) int {
	p.t.Helper()
	return p.await(chromedp.Click(chromedp.CSS(sel)), "clicking "+sel)
}

// await runs action, which loads a page, and returns that page's HTTP
// status.
func (p browserPage) await(action chromedp.Action[chromedp.Void], what string) int {
	p.t.Helper()
	resp, err := chromedp.RunResponse(p.ctx, action)
	require.NoError(p.t, err, what)
	return int(resp.Status)
}

// reload reloads the page as a person would, sending a form again if the
// page was the answer to one, and returns the page's HTTP status.
func (p browserPage) reload() int {
	p.t.Helper()
	return p.await(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.Reload, page.ReloadParams{})
		return err
	}), "reloading")
}

// back goes back one page in the browser's history, as the Back button
// does, and waits for the page to be ready.
func (p browserPage) back() {
	p.t.Helper()
	h, err := chromedp.Run(p.ctx, chromedp.NavigationEntries())
	require.NoError(p.t, err)
	require.Positive(p.t, h.CurrentIndex, "no page to go back to")
	prev := h.Entries[h.CurrentIndex-1].ID
	_, err = chromedp.Run(p.ctx, chromedp.WaitEvent(page.FrameNavigated, nil, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: prev})
		return err
	})))
	require.NoError(p.t, err, "going back")
	p.do(chromedp.WaitReady(chromedp.CSS("body")))
}

// location returns the address of the page.
func (p browserPage) location() string {
	p.t.Helper()
	loc, err := chromedp.Run(p.ctx, chromedp.Location())
	require.NoError(p.t, err)
	return loc
}

// text returns the visible text of the first element sel selects.
func (p browserPage) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(p.t, err, "text of %s", sel)
	return s
}

// value returns the value of the form field sel selects.
func (p browserPage) value(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Value(chromedp.CSS(sel)))
	require.NoError(p.t, err, "value of %s", sel)
	return s
}

// attr returns the attribute name of the element sel selects, which must
// have it.
func (p browserPage) attr(sel, name string) string {
	p.t.Helper()
	a, err := chromedp.Run(p.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	require.NoError(p.t, err, "attribute %s of %s", name, sel)
	require.True(p.t, a.Exists, "%s has no attribute %s", sel, name)
	return a.Value
}

// js returns the value of the JavaScript expression expr in the page.
func js[T any](p browserPage, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	require.NoError(p.t, err, "evaluating %s", expr)
	return v
}

// checked reports whether the radio button sel selects is checked.
func (p browserPage) checked(sel string) bool {
	p.t.Helper()
	return js[bool](p, fmt.Sprintf(`document.querySelector(%q).checked`, sel))
}

// present reports whether the page has an element sel selects.
func (p browserPage) present(sel string) bool {
	p.t.Helper()
	return js[bool](p, fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
}

// keyRow is a row of the list of keys, as the page shows it.
type keyRow struct {
	ID       string `json:"id"`
	Label    string `json:"label"`
	Access   string `json:"access"`  // its text, spaces collapsed
	Expires  string `json:"expires"` // the datetime of its expiry, "" for never
	Status   string `json:"status"`  // the toggle's text
	Inactive bool   `json:"inactive"`
}

// rows returns the rows of the list of keys on the page.
func (p browserPage) rows() []keyRow {
	p.t.Helper()
	return js[[]keyRow](p, `Array.from(document.querySelectorAll("tr.key-row"), r => ({
		id: r.dataset.keyId,
		label: r.querySelector("th.label").textContent,
		access: r.querySelector("td.access").innerText.replace(/\s+/g, " ").trim(),
		expires: (r.querySelector("td.expires time") || {}).dateTime || "",
		status: r.querySelector("td.status").innerText.trim(),
		inactive: r.classList.contains("inactive"),
	}))`)
}

// row returns the row of the key id, which must be listed.
func (p browserPage) row(id string) keyRow {
	p.t.Helper()
	for _, r := range p.rows() {
		if r.ID == id {
			return r
		}
	}
	require.FailNow(p.t, "key not listed", "no row for key %s in %+v", id, p.rows())
	return keyRow{}
}

// inRow returns the selector of sel within the row of the key id.
func inRow(id, sel string) string { return `tr.key-row[data-key-id="` + id + `"] ` + sel }

// openMenu opens the actions menu of the key id's row, and checks that
// a person sees each of its items where it is drawn: nothing covers or
// clips it, and it needs no scrolling once the menu's button is in view.
func (p browserPage) openMenu(id string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(inRow(id, "details.menu summary"))))
	require.True(p.t, p.present(inRow(id, "details.menu[open]")), "the menu did not open")
	// A person scrolls the menu's button to the top of the window, and
	// looks below it.
	js[chromedp.Void](p, fmt.Sprintf(`document.querySelector(%q).scrollIntoView({block: "start", inline: "nearest"})`, inRow(id, "details.menu summary")))
	hidden := js[[]string](p, fmt.Sprintf(`Array.from(document.querySelectorAll(%q), item => {
		const r = item.getBoundingClientRect();
		const at = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
		return at !== null && item.contains(at) ? "" : item.textContent.trim();
	}).filter(s => s !== "")`, inRow(id, ".menu-items a")+", "+inRow(id, ".menu-items button")))
	assert.Empty(p.t, hidden, "menu items a person cannot see or click where they are drawn")
}

// list opens the list of keys.
func (p browserPage) list() {
	p.t.Helper()
	require.Equal(p.t, http.StatusOK, p.navigate(p.s.base+settingsPath+"/"), "the list")
}

// keys returns the demo account's keys, as the server holds them.
func (p browserPage) keys() []apikey.Key {
	p.t.Helper()
	ks, err := p.s.m.List(context.Background(), apikey.ListOptions{Owner: firstOwner})
	require.NoError(p.t, err)
	return ks
}

// api sends a request with token to the data API and returns the status.
func (p browserPage) api(method, path, token, body string) int {
	p.t.Helper()
	req, err := http.NewRequest(method, p.s.base+path, strings.NewReader(body))
	require.NoError(p.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(p.t, err, "%s %s", method, path)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// noConsoleErrors checks that the browser reported no script error and no
// Content-Security-Policy violation so far.
func (p browserPage) noConsoleErrors() {
	p.t.Helper()
	assert.Empty(p.t, browsertest.TakeConsoleErrors(p.ctx), "the browser's console")
}

// TestBrowserSignIn signs in with the printed one-time link: before it the
// page asks to sign in; after it the person manages the demo account; the
// link does not work twice.
func TestBrowserSignIn(t *testing.T) {
	ctx := browsertest.NewBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "keys.db"))
	p := browserPage{t: t, ctx: ctx, s: s}

	assert.Equal(t, http.StatusUnauthorized, p.navigate(s.base+settingsPath+"/"), "the page before signing in")
	assert.False(t, p.present("#create-key"), "the page shows keys before signing in")
	assert.Equal(t, settingsPath+"/signin", p.attr("main a.button", "href"), "the sign-in link of the page")

	assert.Equal(t, http.StatusOK, p.navigate(s.signIn), "the printed link")
	assert.Contains(t, p.text("body"), "Sign in as the owner of the account demo")
	assert.Equal(t, http.StatusOK, p.follow("#signin"), "pressing Sign in")
	assert.Equal(t, s.base+settingsPath+"/", p.location(), "where signing in leads")
	assert.Contains(t, p.text("header .who"), "Signed in as owner of demo")
	rows := p.rows()
	require.Len(t, rows, 1, "the list of a first start")
	assert.Equal(t, "first key (examples/server)", rows[0].Label)
	assert.True(t, p.present("#create-key"), "an owner may create keys")

	// The link works once.
	assert.Equal(t, http.StatusOK, p.navigate(s.signIn), "the link, opened again")
	assert.Equal(t, http.StatusForbidden, p.follow("#signin"), "pressing Sign in again")
	assert.Contains(t, p.text("body"), "already used")
	// The session it opened first still works, at the page's address
	// with or without its trailing slash.
	assert.Equal(t, http.StatusOK, p.navigate(s.base+settingsPath))
	assert.Equal(t, s.base+settingsPath+"/", p.location())
	assert.Len(t, p.rows(), 1)
	p.noConsoleErrors()
}

// TestBrowserCreateCustomKey creates a Custom key with the picker and uses
// its token against the data API: allowed where scoped, 403 elsewhere; the
// token page, reloaded, shows no token and makes no second key.
func TestBrowserCreateCustomKey(t *testing.T) {
	p := openSettings(t)
	assert.Equal(t, http.StatusOK, p.follow("#create-key"))
	assert.True(t, p.checked("#access-full"), "Full access is the default")

	p.do(
		chromedp.SendKeys(chromedp.CSS("#label"), "shop integration"),
		chromedp.Click(chromedp.CSS("#access-custom")),
		chromedp.Click(chromedp.CSS(`tr[data-resource="profiles"] input[value="read"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-resource="lists"] input[value="write"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-resource="campaigns"] input[value="none"]`)),
	)
	assert.Equal(t, http.StatusOK, p.follow("#create"), "creating the key")
	token := p.value("#token")
	require.True(t, strings.HasPrefix(token, "sk_"), "the token shown: %q", token)
	assert.Contains(t, p.text(".new-key .warning"), "It will not be shown again")
	assert.Contains(t, p.text(`label[for="token"]`), "shop integration")
	assert.NotContains(t, p.location(), token, "the token is in the address")
	ks := p.keys()
	require.Len(t, ks, 2, "keys after creating one")
	assert.Equal(t, "lists:write,profiles:read", ks[0].Scopes.String(), "the key's scopes")

	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/api/profiles", "", http.StatusOK},
		{"GET", "/api/lists", "", http.StatusOK},
		{"POST", "/api/lists", `{"name":"vip"}`, http.StatusCreated},
		{"GET", "/api/campaigns", "", http.StatusForbidden},
		{"POST", "/api/profiles", `{"name":"new"}`, http.StatusForbidden},
	} {
		assert.Equal(t, c.want, p.api(c.method, c.path, token, c.body), "%s %s with the new key", c.method, c.path)
	}

	// Reloading sends the form again: no second key, no token.
	assert.Equal(t, http.StatusConflict, p.reload(), "the token page, reloaded")
	assert.Contains(t, p.text("main"), "This form was already sent")
	assert.False(t, p.present("#token"), "the reloaded page shows a token")
	assert.NotContains(t, js[string](p, `document.documentElement.outerHTML`), token, "the reloaded page holds the token")
	assert.Len(t, p.keys(), 2, "keys after the reload")

	// So does going back to the token page from the list, once the
	// browser asks to send it again (it never keeps the page: no-store).
	assert.Equal(t, http.StatusOK, p.follow("main a.button"), "back to the list")
	p.back()
	assert.NotContains(t, js[string](p, `document.documentElement.outerHTML`), token, "the token page, gone back to")
	assert.Contains(t, p.text("body"), "Confirm Form Resubmission", "the browser's page for a form it did not keep")
	assert.Equal(t, http.StatusConflict, p.reload(), "the token page, gone back to and sent again")
	assert.False(t, p.present("#token"), "the page sent again shows a token")
	assert.Len(t, p.keys(), 2, "keys after going back")

	p.list()
	rows := p.rows()
	require.Len(t, rows, 2)
	assert.Equal(t, "shop integration", rows[0].Label, "the newest key comes first")
	assert.Equal(t, "Custom lists: write profiles: read", rows[0].Access)
	assert.Equal(t, "Active", rows[0].Status)
	p.noConsoleErrors()
}

// TestBrowserCopyAndDownload copies the token with the page's Copy button,
// as a person would, uses what the clipboard holds, and downloads it as a
// text file, twice.
func TestBrowserCopyAndDownload(t *testing.T) {
	p := openSettings(t)
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(p.ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: p.s.base})
		require.NoError(t, err, "granting %s", name)
	}
	assert.Equal(t, http.StatusOK, p.navigate(p.s.base+settingsPath+"/new?scopes=profiles:read&label=Copied+key"))
	assert.Equal(t, http.StatusOK, p.follow("#create"))
	token := p.value("#token")
	p.do(chromedp.Click(chromedp.CSS("#copy"))) // hidden without script: the script shows it
	_, err := chromedp.Run(p.ctx, chromedp.Poll[bool](`document.getElementById("copy-status").textContent !== ""`, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "waiting for the Copy button's answer")
	assert.Equal(t, "Copied to the clipboard.", p.text("#copy-status"))
	copied, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "reading the clipboard")
	assert.Equal(t, token, copied, "the clipboard")
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/profiles", copied, ""), "the copied key")

	dir, events := t.TempDir(), true
	_, err = chromedp.CallBrowser(p.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, EventsEnabled: &events})
	require.NoError(t, err)
	for i := range 2 {
		progress := chromedp.BrowserEvents(p.ctx, browser.DownloadProgress)
		p.do(chromedp.Click(chromedp.CSS("#download")))
		for ev, err := range progress {
			require.NoError(t, err, "download %d", i+1)
			if ev.State == browser.DownloadProgressStateCompleted {
				break
			}
			require.NotEqual(t, browser.DownloadProgressStateCanceled, ev.State, "download %d", i+1)
		}
		got, err := os.ReadFile(filepath.Join(dir, "api-key-copied-key.txt"))
		require.NoError(t, err, "the downloaded file")
		assert.Equal(t, token+"\n", string(got), "the downloaded file")
		require.NoError(t, os.Remove(filepath.Join(dir, "api-key-copied-key.txt")))
		require.False(t, js[bool](p, `document.getElementById("download").disabled`), "the Download button after download %d", i+1)
	}
	assert.Equal(t, token, p.value("#token"), "the page after downloading")
	p.noConsoleErrors()
}

// TestBrowserScopesLinkPrefills opens a "create key" link with ?scopes=
// and finds the picker pre-filled, and the unknown entry named.
func TestBrowserScopesLinkPrefills(t *testing.T) {
	p := openSettings(t)
	assert.Equal(t, http.StatusOK, p.navigate(p.s.base+settingsPath+"/new?scopes=campaigns:read,lists:write,lsts:read"))
	assert.True(t, p.checked("#access-custom"), "Custom is chosen")
	for res, want := range map[string]string{"campaigns": "read", "lists": "write", "profiles": "none", "tags": "none"} {
		for _, level := range []string{"none", "read", "write"} {
			sel := `tr[data-resource="` + res + `"] input[value="` + level + `"]`
			assert.Equal(t, level == want, p.checked(sel), "%s: %s", res, level)
		}
	}
	ignored := p.text("#scopes-ignored")
	assert.Contains(t, ignored, `"lsts:read"`, "the error names the entry")
	assert.Contains(t, ignored, `did you mean "lists"`, "the error suggests the resource")

	// Created as it stands, the key has the scopes the link named, and
	// nothing in place of the mistyped one.
	p.do(chromedp.SendKeys(chromedp.CSS("#label"), "from a link"))
	assert.Equal(t, http.StatusOK, p.follow("#create"))
	ks := p.keys()
	require.Len(t, ks, 2)
	assert.Equal(t, "campaigns:read,lists:write", ks[0].Scopes.String())
	p.noConsoleErrors()
}

// TestBrowserToggle deactivates a key, after a confirmation, and sees the
// API refuse it at once; activates it, and sees the API accept it.
func TestBrowserToggle(t *testing.T) {
	p := openSettings(t)
	token, id := p.s.mint(t, firstOwner, "reporting", "profiles:read")
	p.list()
	assert.Equal(t, "Active", p.row(id).Status)

	// Deactivating asks first; Cancel changes nothing.
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, "button.toggle")), "the toggle")
	assert.Contains(t, p.text("main .warning"), "Deactivate “reporting”")
	assert.Equal(t, http.StatusOK, p.follow("#cancel"))
	assert.Equal(t, "Active", p.row(id).Status, "after Cancel")
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/profiles", token, ""), "the key after Cancel")

	assert.Equal(t, http.StatusOK, p.follow(inRow(id, "button.toggle")), "the toggle")
	assert.Equal(t, http.StatusOK, p.follow("#confirm"), "confirming")
	assert.Contains(t, p.text(".flash"), "The key was deactivated")
	r := p.row(id)
	assert.Equal(t, "Inactive", r.Status)
	assert.True(t, r.Inactive, "the row is marked inactive")
	assert.Equal(t, http.StatusUnauthorized, p.api("GET", "/api/profiles", token, ""), "the deactivated key")

	// Activating needs no confirmation.
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, "button.toggle")), "the toggle")
	assert.Contains(t, p.text(".flash"), "The key was activated")
	assert.Equal(t, "Active", p.row(id).Status)
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/profiles", token, ""), "the key activated again")
	p.noConsoleErrors()
}

// TestBrowserClone clones a key from its menu: a second key with the same
// label and access, and a reminder to delete the original.
func TestBrowserClone(t *testing.T) {
	p := openSettings(t)
	token, id := p.s.mint(t, firstOwner, "reporting", "profiles:read,lists:write")
	p.list()
	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-clone")), "Clone")
	reminder := p.text("#clone-reminder")
	assert.Contains(t, reminder, "clone of “reporting”")
	assert.Contains(t, reminder, "delete the original if it is no longer needed")
	clone := p.value("#token")
	assert.NotEqual(t, token, clone, "the clone's token")
	assert.Equal(t, http.StatusCreated, p.api("POST", "/api/lists", clone, `{"name":"cloned"}`), "the clone writes lists")
	assert.Equal(t, http.StatusForbidden, p.api("GET", "/api/campaigns", clone, ""), "the clone reads campaigns")
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/profiles", token, ""), "the original after the clone")
	assert.Equal(t, http.StatusConflict, p.reload(), "the clone's token page, reloaded")
	assert.False(t, p.present("#token"), "the reloaded page shows a token")
	assert.Len(t, p.keys(), 3, "keys: the first, the original and one clone")

	p.list()
	var same []keyRow
	for _, r := range p.rows() {
		if r.Label == "reporting" {
			same = append(same, r)
		}
	}
	require.Len(t, same, 2, "rows labelled reporting")
	assert.NotEqual(t, same[0].ID, same[1].ID)
	assert.Equal(t, same[0].Access, same[1].Access, "the clone's access")
	assert.Equal(t, "Custom lists: write profiles: read", same[0].Access)
	p.noConsoleErrors()
}

// TestBrowserCloneThenDeleteTheOriginal follows the clone's reminder: the
// token page's button deletes the original, once confirmed.
func TestBrowserCloneThenDeleteTheOriginal(t *testing.T) {
	p := openSettings(t)
	token, id := p.s.mint(t, firstOwner, "nightly export", "events:read")
	p.list()
	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-clone")), "Clone")
	clone := p.value("#token")
	assert.Equal(t, http.StatusOK, p.follow("#delete-original"), "Delete the original…")
	assert.Contains(t, p.text("main .warning"), "Delete “nightly export”")
	assert.Equal(t, http.StatusOK, p.follow("#confirm"), "Delete key")
	assert.Contains(t, p.text(".flash"), "The key was deleted")
	assert.False(t, p.present(inRow(id, "th")), "the original is listed")
	var labels []string
	for _, r := range p.rows() {
		labels = append(labels, r.Label)
	}
	assert.Equal(t, []string{"nightly export", "first key (examples/server)"}, labels, "the clone and the first key")
	assert.Equal(t, http.StatusUnauthorized, p.api("GET", "/api/events", token, ""), "the original")
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/events", clone, ""), "the clone")
	p.noConsoleErrors()
}

// TestBrowserRoll rolls a key with a grace period: the new key works, and
// the original works until the expiry the page shows.
func TestBrowserRoll(t *testing.T) {
	p := openSettings(t)
	token, id := p.s.mint(t, firstOwner, "backend", "lists:read")
	p.list()
	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-roll")), "Roll…")
	assert.True(t, p.checked("#grace-24h"), "the default grace period")
	p.do(chromedp.Click(chromedp.CSS(`label[for="grace-1h"]`)))
	assert.True(t, p.checked("#grace-1h"), "1 hour, chosen by its label")
	before := time.Now()
	assert.Equal(t, http.StatusOK, p.follow("#roll"), "Roll key")

	note := p.text("#roll-note")
	assert.Contains(t, note, "replaces “backend”")
	assert.Contains(t, note, "keeps working until")
	until, err := time.Parse(time.RFC3339, p.attr("#roll-note time", "datetime"))
	require.NoError(t, err, "the original's expiry")
	assert.WithinRange(t, until, before.Add(time.Hour-time.Second), time.Now().Add(time.Hour+time.Second), "the original's expiry")
	rolled := p.value("#token")
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/lists", rolled, ""), "the new key")
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/lists", token, ""), "the original, in its grace period")
	assert.Equal(t, http.StatusConflict, p.reload(), "the new key's token page, reloaded")
	assert.False(t, p.present("#token"), "the reloaded page shows a token")
	assert.Len(t, p.keys(), 3, "keys: the first, the original and one new key")

	p.list()
	orig := p.row(id)
	assert.Equal(t, until.UTC().Format(time.RFC3339), orig.Expires, "the original's expiry in the list")
	var newRow *keyRow
	for _, r := range p.rows() {
		if r.Label == "backend" && r.ID != id {
			newRow = &r
		}
	}
	require.NotNil(t, newRow, "the new key's row")
	assert.Empty(t, newRow.Expires, "the new key expires")
	assert.Equal(t, orig.Access, newRow.Access, "the new key's access")

	// Rolled with no grace period, the original stops at once.
	p.openMenu(newRow.ID)
	assert.Equal(t, http.StatusOK, p.follow(inRow(newRow.ID, ".menu-roll")), "Roll…")
	p.do(chromedp.Click(chromedp.CSS(`label[for="grace-0s"]`)))
	assert.Equal(t, http.StatusOK, p.follow("#roll"), "Roll key")
	assert.Contains(t, p.text("#roll-note"), "The original has stopped working.")
	assert.Equal(t, http.StatusUnauthorized, p.api("GET", "/api/lists", rolled, ""), "a key rolled with no grace period")
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/lists", p.value("#token"), ""), "the key that replaced it")
	p.list()
	assert.Equal(t, "Expired", p.row(newRow.ID).Status, "the key rolled with no grace period")
	p.noConsoleErrors()
}

// TestBrowserRename renames a key, and finds on the rename page that
// scopes are fixed, with a link to a create form with the same scopes.
func TestBrowserRename(t *testing.T) {
	p := openSettings(t)
	_, id := p.s.mint(t, firstOwner, "old name", "profiles:read,lists:write")
	p.list()
	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-rename")), "Rename…")
	assert.Equal(t, "old name", p.value("#label"))
	assert.Contains(t, p.text("#scopes-fixed"), "cannot be edited")
	p.do(chromedp.Clear(chromedp.CSS("#label")), chromedp.SendKeys(chromedp.CSS("#label"), "new name"))
	assert.Equal(t, http.StatusOK, p.follow("#save"))
	assert.Contains(t, p.text(".flash"), "The key was renamed")
	assert.Equal(t, "new name", p.row(id).Label)

	// "Create a key with these scopes" pre-fills the create form.
	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-rename")))
	assert.Equal(t, http.StatusOK, p.follow("#create-like"))
	assert.Equal(t, "new name", p.value("#label"))
	assert.True(t, p.checked("#access-custom"), "Custom is chosen")
	assert.True(t, p.checked(`tr[data-resource="profiles"] input[value="read"]`), "profiles: read")
	assert.True(t, p.checked(`tr[data-resource="lists"] input[value="write"]`), "lists: write")
	assert.True(t, p.checked(`tr[data-resource="campaigns"] input[value="none"]`), "campaigns: none")
	assert.False(t, p.present("#scopes-ignored"), "the link's scopes were not all applied")
	p.noConsoleErrors()
}

// TestBrowserDelete deletes a key after a confirmation: its row is gone and
// the API refuses its token.
func TestBrowserDelete(t *testing.T) {
	p := openSettings(t)
	token, id := p.s.mint(t, firstOwner, "doomed", "profiles:read")
	p.list()
	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-delete")), "Delete…")
	assert.Contains(t, p.text("main .warning"), "Delete “doomed”")
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/profiles", token, ""), "the key before confirming")
	assert.Equal(t, http.StatusOK, p.follow("#confirm"), "Delete key")
	assert.Contains(t, p.text(".flash"), "The key was deleted")
	assert.False(t, p.present(inRow(id, "th")), "the deleted key is listed")
	assert.Len(t, p.rows(), 1, "rows left: the first key")
	assert.Equal(t, http.StatusUnauthorized, p.api("GET", "/api/profiles", token, ""), "the deleted key")

	// With the last key gone, the page says what a key is for.
	first := p.rows()[0].ID
	p.openMenu(first)
	assert.Equal(t, http.StatusOK, p.follow(inRow(first, ".menu-delete")))
	assert.Equal(t, http.StatusOK, p.follow("#confirm"))
	assert.Empty(t, p.rows(), "rows left")
	assert.Contains(t, p.text("#empty"), "No API keys yet")
	assert.Equal(t, http.StatusOK, p.follow("#empty a"), "the empty state's Create key")
	assert.True(t, p.present("#create"), "the create form")
	p.noConsoleErrors()
}

// TestBrowserKeyboardOnly creates a key, deactivates it and uses a row's
// menu with the keyboard alone: Tab, the arrow keys, Space, Enter and
// Escape.
func TestBrowserKeyboardOnly(t *testing.T) {
	p := openSettings(t)
	key := func(k string) chromedp.Action[chromedp.Void] { return chromedp.KeyEvent(k) }

	p.tabTo("#create-key", 5)
	assert.Equal(t, http.StatusOK, p.await(key(kb.Enter), "Enter on Create key"))
	p.tabTo("#label", 5)
	p.do(key("by keyboard"))
	p.tabTo("#access-full", 3) // Tab enters a radio group at its checked button
	p.do(key(kb.ArrowDown), key(kb.ArrowDown))
	assert.True(t, p.checked("#access-custom"), "Custom, two down from Full")
	p.tabTo(`tr[data-resource="campaigns"] input[value="none"]`, 3)
	p.do(key(kb.ArrowRight))
	assert.True(t, p.checked(`tr[data-resource="campaigns"] input[value="read"]`), "campaigns: read, one right of none")
	p.tabTo("#create", 40)
	assert.Equal(t, http.StatusOK, p.await(key(kb.Enter), "Enter on Create key"))
	token := p.value("#token")
	assert.Contains(t, p.text(`label[for="token"]`), "“by keyboard” (Custom: campaigns read)")
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/campaigns", token, ""), "the key made with the keyboard")
	ks := p.keys()
	require.Len(t, ks, 2)
	id := ks[0].ID.String()
	assert.Equal(t, "campaigns:read", ks[0].Scopes.String())

	p.tabTo("#done", 10)
	assert.Equal(t, http.StatusOK, p.await(key(kb.Enter), "Enter on I have saved the key"))
	p.tabTo(inRow(id, "button.toggle"), 15)
	assert.Equal(t, http.StatusOK, p.await(key(" "), "Space on the toggle"))
	p.tabTo("#confirm", 5)
	assert.Equal(t, http.StatusOK, p.await(key(kb.Enter), "Enter on Deactivate key"))
	assert.Equal(t, "Inactive", p.row(id).Status)
	assert.Equal(t, http.StatusUnauthorized, p.api("GET", "/api/campaigns", token, ""), "the key deactivated with the keyboard")

	p.tabTo(inRow(id, "details.menu summary"), 15)
	p.do(key(kb.Enter))
	assert.True(t, p.present(inRow(id, "details.menu[open]")), "Enter opens the menu")
	p.do(key(kb.Tab))
	assert.True(t, js[bool](p, `document.activeElement.matches(".menu-clone")`), "Tab goes to the menu's first item")
	p.do(key(kb.Escape))
	assert.False(t, p.present(inRow(id, "details.menu[open]")), "Escape closes the menu")
	assert.True(t, js[bool](p, `document.activeElement.matches("details.menu summary")`), "Escape returns the focus to the menu")
	p.do(key(kb.Enter))
	p.tabTo(inRow(id, ".menu-rename"), 4)
	assert.Equal(t, http.StatusOK, p.await(key(kb.Enter), "Enter on Rename…"))
	assert.Equal(t, "by keyboard", p.value("#label"), "the rename page of the key")
	p.noConsoleErrors()
}

// tabTo presses Tab until the element sel selects has the focus, at most
// max times.
func (p browserPage) tabTo(sel string, max int) {
	p.t.Helper()
	focused := fmt.Sprintf(`document.activeElement !== null && document.activeElement.matches(%q)`, sel)
	for range max {
		p.do(chromedp.KeyEvent(kb.Tab))
		if js[bool](p, focused) {
			return
		}
	}
	require.FailNowf(p.t, "unreachable by Tab", "%s has no focus after %d presses of Tab; the focus is on %s", sel, max,
		js[string](p, `document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : "nothing"`))
}

// TestBrowserLabelIsText creates a key whose label holds markup, quotes and
// unicode, and checks that every page shows it as text: no script runs, no
// dialog opens, and nothing breaks out of an attribute or a link.
func TestBrowserLabelIsText(t *testing.T) {
	const label = `<script>alert(1)</script>"' <img src=x onerror=alert(2)> ключ 🔑 café &amp;`
	p := openSettings(t)
	var dialogs atomic.Int32
	require.NoError(t, chromedp.Listen(p.ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			go chromedp.Call(p.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}))

	assert.Equal(t, http.StatusOK, p.follow("#create-key"))
	// The emoji and Cyrillic have no key to press: set the field's value.
	p.do(chromedp.SetValue(chromedp.CSS("#label"), label), chromedp.Click(chromedp.CSS("#access-read-only")))
	assert.Equal(t, http.StatusOK, p.follow("#create"))
	assert.Contains(t, p.text(`label[for="token"]`), label, "the token page")
	assert.Equal(t, http.StatusOK, p.follow("#done"))
	ks := p.keys()
	require.Len(t, ks, 2)
	require.Equal(t, label, ks[0].Label, "the label stored")
	id := ks[0].ID.String()
	assert.Equal(t, label, p.row(id).Label, "th.label in the list")
	assert.Equal(t, "Actions for "+label, p.attr(inRow(id, "details.menu summary"), "aria-label"), "an attribute")
	assert.False(t, p.present("main script, main img"), "the label made elements")

	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-like")), "Create a key with these scopes")
	assert.Equal(t, label, p.value("#label"), "the label through a link's query")
	assert.True(t, p.checked("#access-read-only"), "the access through a link's query")

	p.list()
	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-rename")))
	assert.Equal(t, label, p.value("#label"), "the rename field")
	assert.Contains(t, p.text("#scopes-fixed"), "Read-only")
	assert.Equal(t, http.StatusOK, p.follow("#save"), "renaming to the same label")
	assert.Equal(t, label, p.row(id).Label, "th.label after renaming")

	assert.Equal(t, "API keys", js[string](p, `document.title`), "the page's title")
	assert.Zero(t, dialogs.Load(), "dialogs opened")
	p.noConsoleErrors()
}

// TestBrowserCreateShowsErrorsByTheirFields sends the create form with
// every field wrong, and sees each error next to its field, the choices
// kept, and then the form, corrected, make the key.
func TestBrowserCreateShowsErrorsByTheirFields(t *testing.T) {
	p := openSettings(t)
	assert.Equal(t, http.StatusOK, p.follow("#create-key"))
	p.do(
		chromedp.Click(chromedp.CSS("#access-custom")),
		// A date field's keys depend on the locale: set its value.
		chromedp.SetValue(chromedp.CSS("#expires"), "2000-01-31"),
	)
	assert.Equal(t, http.StatusBadRequest, p.follow("#create"), "the form with no name, no grant and a past expiry")
	for _, f := range []struct{ field, error, says string }{
		{"#label", "#label-error", "Give the key a name"},
		{"#access-custom", "#access-error", "Choose read or write for at least one resource"},
		{"#expires", "#expires-error", "The expiry date must be in the future"},
	} {
		assert.Contains(t, p.text(f.error), f.says)
		// The error is inside the field's own group on the page.
		near := fmt.Sprintf(`document.querySelector(%q).closest(".field").contains(document.querySelector(%q))`, f.field, f.error)
		assert.True(t, js[bool](p, near), "%s is not next to %s", f.error, f.field)
	}
	assert.Equal(t, "true", p.attr("#label", "aria-invalid"))
	assert.Contains(t, p.attr("#label", "aria-describedby"), "label-error", "the name's error is its description")
	assert.True(t, js[bool](p, `document.activeElement.id === "label"`), "the focus is on the first wrong field")
	assert.True(t, p.checked("#access-custom"), "Custom is still chosen")
	assert.Equal(t, "2000-01-31", p.value("#expires"), "the expiry is kept")
	assert.Len(t, p.keys(), 1, "a key was made")

	p.do(
		chromedp.SendKeys(chromedp.CSS("#label"), "corrected"),
		chromedp.Click(chromedp.CSS(`tr[data-resource="events"] input[value="write"]`)),
		chromedp.SetValue(chromedp.CSS("#expires"), "2099-12-31"),
	)
	assert.Equal(t, http.StatusOK, p.follow("#create"), "the corrected form")
	assert.True(t, p.present("#token"), "the token page")
	ks := p.keys()
	require.Len(t, ks, 2)
	assert.Equal(t, "corrected", ks[0].Label)
	assert.Equal(t, "events:write", ks[0].Scopes.String())
	assert.Equal(t, time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC), ks[0].ExpiresAt.UTC())
	p.list()
	assert.Equal(t, "2099-12-31T00:00:00Z", p.row(ks[0].ID.String()).Expires, "the expiry in the list")
	p.noConsoleErrors()
}

// TestBrowserPaging pages through more keys than the list shows at once.
func TestBrowserPaging(t *testing.T) {
	p := openSettings(t)
	first := p.keys()[0].ID.String()
	for i := range 25 {
		p.s.mint(t, firstOwner, fmt.Sprintf("key %02d", i), "tags:read")
	}
	p.list()
	rows := p.rows()
	require.Len(t, rows, 25, "the first page")
	assert.Equal(t, "key 24", rows[0].Label, "the newest key first")
	assert.False(t, p.present(inRow(first, "th")), "the oldest key on the first page")
	assert.Equal(t, http.StatusOK, p.follow("#older"), "Older keys")
	rows = p.rows()
	require.Len(t, rows, 1, "the second page")
	assert.Equal(t, first, rows[0].ID, "the oldest key")
	assert.False(t, p.present("#older"), "a page after the last")
	assert.Equal(t, http.StatusOK, p.follow(".pager a"), "Newest keys")
	assert.Len(t, p.rows(), 25, "the first page again")
	p.noConsoleErrors()
}

// TestBrowserWithoutJavaScript turns script off and creates, deactivates,
// clones and deletes a key: every form and menu works without it, and the
// Copy button, which needs it, is not offered.
func TestBrowserWithoutJavaScript(t *testing.T) {
	p := openSettings(t)
	_, err := chromedp.Call(p.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	require.NoError(t, err)

	assert.Equal(t, http.StatusOK, p.follow("#create-key"))
	p.do(
		chromedp.SendKeys(chromedp.CSS("#label"), "no script"),
		chromedp.Click(chromedp.CSS("#access-custom")),
		chromedp.Click(chromedp.CSS(`tr[data-resource="segments"] input[value="read"]`)),
	)
	assert.Equal(t, http.StatusOK, p.follow("#create"))
	token := p.value("#token")
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/segments", token, ""))
	assert.False(t, js[bool](p, `document.getElementById("copy").checkVisibility()`), "the Copy button, without script")
	ks := p.keys()
	require.Len(t, ks, 2)
	id := ks[0].ID.String()

	assert.Equal(t, http.StatusOK, p.follow("#done"))
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, "button.toggle")))
	assert.Equal(t, http.StatusOK, p.follow("#confirm"))
	assert.Equal(t, "Inactive", p.row(id).Status)
	assert.Equal(t, http.StatusUnauthorized, p.api("GET", "/api/segments", token, ""))

	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-clone")))
	assert.True(t, p.present("#clone-reminder"))
	assert.Equal(t, http.StatusOK, p.api("GET", "/api/segments", p.value("#token"), ""), "the clone of an inactive key")
	p.list()
	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-delete")))
	assert.Equal(t, http.StatusOK, p.follow("#confirm"))
	assert.False(t, p.present(inRow(id, "th")), "the deleted key is listed")
	assert.Len(t, p.rows(), 2, "the first key and the clone")
	p.noConsoleErrors()
}

// TestBrowserNarrowWindow uses the list in a phone-sized window, where the
// table is wider than the window: each row's menu still shows all of its
// items.
func TestBrowserNarrowWindow(t *testing.T) {
	p := openSettings(t)
	_, id := p.s.mint(t, firstOwner, "phone", "profiles:read")
	p.do(chromedp.EmulateViewport(390, 844))
	p.list()
	for _, r := range p.rows() {
		p.openMenu(r.ID)
		p.do(chromedp.KeyEvent(kb.Escape))
	}
	assert.LessOrEqual(t, js[float64](p, `document.documentElement.scrollWidth`), js[float64](p, `innerWidth`),
		"the page scrolls sideways: only the table should")
	assert.Greater(t, js[float64](p, `document.querySelector(".table-wrap").scrollWidth`), js[float64](p, `innerWidth`),
		"the table fits the phone: the test shows nothing")
	p.openMenu(id)
	assert.Equal(t, http.StatusOK, p.follow(inRow(id, ".menu-rename")), "Rename…")
	assert.Equal(t, "phone", p.value("#label"))
	p.noConsoleErrors()
}
