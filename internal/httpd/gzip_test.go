package httpd

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Scripts go out gzipped to browsers that take it (the widget's visitors
// load 42 KB instead of 150), unchanged to the others, and a revalidation
// costs nothing.
func TestGzippedScripts(t *testing.T) {
	s := newTestServer()
	get := func(accept, etag string) *http.Response {
		req := httptest.NewRequest("GET", "/sdk/switchboard.js", nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Result()
	}
	for _, tc := range []struct {
		accept string
		gz     bool
	}{
		{"gzip, deflate, br", true},
		{"br;q=1.0, gzip;q=0.5", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"", false},
	} {
		resp := get(tc.accept, "")
		body, _ := io.ReadAll(resp.Body)
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gz {
			t.Errorf("Accept-Encoding %q: gzipped %v, want %v", tc.accept, got, tc.gz)
			continue
		}
		if tc.gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err == nil {
				body, err = io.ReadAll(zr)
			}
			if err != nil {
				t.Fatalf("Accept-Encoding %q: %v", tc.accept, err)
			}
		}
		if string(body) != "export function connect() {}" {
			t.Errorf("Accept-Encoding %q: body %q", tc.accept, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
			t.Errorf("Accept-Encoding %q: Content-Type %q", tc.accept, ct)
		}
	}
	first := get("gzip", "")
	if again := get("gzip", first.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %s", again.Status)
	}
}
