// Package keypage serves keyscope's settings page: the web page on which
// the people of an account list, create, clone, roll, rename, deactivate,
// reactivate and delete that account's API keys. An application mounts it
// with one line under any path:
//
//	page, err := keypage.New(manager, keypage.Options{
//		Authorize: keyapi.AuthorizeRoles(currentUser), // the app's own sign-in
//	})
//	if err != nil { ... }
//	mux.Handle("/settings/api-keys/", http.StripPrefix("/settings/api-keys", page))
//
// The page is rendered on the server with html/template; its style sheet and
// script are embedded in the package and served under the same path, so it
// needs no CDN, build step or Node. Every form works with JavaScript off;
// the script only adds a copy button and keeps a form from being sent
// twice.
//
// # Who uses it
//
// The page acts for the person that Options.Authorize names, the
// [keyapi.Authorizer] an application also gives the JSON API: typically
// [keyapi.AuthorizeRoles] over the application's session, which lets the
// owners and admins of an account do everything and shows everyone else
// the list read-only. The page shows only the keys of the Actor's Owner. It
// asks the Authorizer, for each request, which operations the person may
// perform and offers only those controls; and every read and change goes
// through keyapi's handler in process, with the page's request's context
// and headers, so the page enforces the management API's rules whatever it
// showed: keys of another account are "no such key" (404), scopes beyond
// the person's are refused, and each change logs keyapi's record. A
// person who is not signed in gets a page that says so, with a link to
// Options.SignInURL if set.
//
// # Pages
//
// The list shows, newest first and Options.PageSize at a time, each key's
// name, masked hint, access (Full access, Read-only or Custom with its
// grants), creation date, last use ("never"), expiry and status, with a
// status toggle (Active / Inactive) and a menu: Clone, Roll, Rename,
// "Create a key with these scopes" and Delete. With no keys it says what a
// key is for and how to make one.
//
// "Create key" asks for a name (required), the access (Full access, the
// default; Read-only; or Custom, a none / read / write choice for each
// resource of the Catalog, named by Options.ResourceLabels) and an optional
// expiry date. A link to /new?scopes=campaigns:read,lists:write (and
// optionally &label=...) opens the form with those choices made; an entry
// the form cannot apply, such as an unknown resource or a malformed scope,
// is listed above the choices with the reason, never dropped silently.
// Scopes cannot be edited: the rename form says so and links to a create
// form pre-filled with the key's scopes.
//
// Creating, cloning or rolling a key answers with its token, shown once,
// with a copy button, a download as a text file and the warning that it
// will not be shown again. The token is never in a URL, and the page is
// sent with Cache-Control: no-store. Each form that makes a key carries a
// one-time ID, which the browser remembers in a cookie once the key is
// made: sending the form again (reloading the token page, or going back to
// it) makes no second key and shows a page that says the token is gone.
// After a clone the page reminds the person that the original keeps
// working and offers to delete it; after a roll it says when the original
// stops working (the roll form offers grace periods from "now" to 30 days).
//
// Deactivating and deleting ask for confirmation on a page of their own;
// activating does not, as it undoes a deactivation. Every error is shown
// on the page in words a person understands, next to the field it
// concerns.
//
// # Security
//
// Every state-changing request (POST; no GET changes anything) is checked
// with net/http's [http.CrossOriginProtection], so a form on another site
// cannot create, roll or delete keys with the person's cookies; origins in
// Options.TrustedOrigins are allowed too. Every answer carries a
// Content-Security-Policy that allows only the page's own style sheet and
// script (no inline script), refuses framing (frame-ancestors 'none'), and
// sends forms only to the page's origin; Referrer-Policy: no-referrer and
// X-Content-Type-Options: nosniff. Labels and every other value are escaped
// by html/template, so a label such as <script> shows as text.
package keypage
