package keypage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/keyscope/apikey"
	"github.com/keyscope/apikey/keyapi"
)

// The page reads and changes keys through keyapi's handler, in process: a
// form becomes the JSON request the management API takes, sent with the
// page's request's context, headers (its cookies) and remote address, so
// that the Authorizer sees the same person. The page thus enforces exactly
// the management API's rules (owner confinement, escalation, expiry caps)
// and logs the same records; it adds only what a page needs.

// apiError is a refusal or failure of the management API: its problem
// document.
type apiError struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail) }

// listPage is the body of a list.
type listPage struct {
	Keys []apikey.Key `json:"keys"`
	Next string       `json:"next"`
}

// recorder is the response writer of an in-process API call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// call sends method target (relative to the API's root, such as
// "/{id}/clone") with body marshaled as JSON, if not nil, for the person of
// r, and decodes a successful answer into out, if not nil. It returns an
// *apiError when the API refuses or fails.
func (h *Handler) call(r *http.Request, method, target string, body, out any) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return fmt.Errorf("keypage: encoding a %s %s request: %w", method, target, err)
		}
	}
	in, err := http.NewRequestWithContext(r.Context(), method, target, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("keypage: building a %s %s request: %w", method, target, err)
	}
	in.Header = r.Header.Clone()
	in.Header.Del("Content-Length")
	in.Header.Del("Content-Encoding")
	in.Header.Set("Content-Type", "application/json")
	in.Host, in.RemoteAddr, in.TLS = r.Host, r.RemoteAddr, r.TLS
	in.RequestURI = target
	w := &recorder{header: http.Header{}}
	h.api.ServeHTTP(w, in)
	if w.status >= 400 {
		var p apiError
		if err := json.Unmarshal(w.body.Bytes(), &p); err != nil || p.Status == 0 {
			return &apiError{Status: w.status, Code: keyapi.CodeInternal, Detail: "the management API answered " + http.StatusText(w.status)}
		}
		return &p
	}
	if out != nil {
		if err := json.Unmarshal(w.body.Bytes(), out); err != nil {
			return fmt.Errorf("keypage: decoding the answer to %s %s: %w", method, target, err)
		}
	}
	return nil
}
