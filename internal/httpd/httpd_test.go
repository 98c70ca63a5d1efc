package httpd

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"switchboard/internal/room"
	"switchboard/internal/store"
)

type noKeys struct{}

func (noKeys) APIKey(context.Context, string) (store.APIKey, error) {
	return store.APIKey{}, store.ErrNotFound
}

func newTestServer(origins ...string) *Server {
	web := fstest.MapFS{
		"index.html":         {Data: []byte("<!doctype html><title>x</title>")},
		"sdk/switchboard.js": {Data: []byte("export function connect() {}")},
	}
	return New(Config{Web: web, Keys: noKeys{}, AllowedOrigins: origins, Signal: http.NotFoundHandler(),
		Registry: room.NewRegistry(room.Config{MaxParticipants: 2, EmptyTimeout: 1}, nil, nil, room.Metrics{}, slog.New(slog.NewTextHandler(io.Discard, nil))),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func get(s *Server, method, path, origin string) *http.Response {
	req := httptest.NewRequest(method, path, nil)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w.Result()
}

func TestHeaders(t *testing.T) {
	s := newTestServer("https://app.example.com")
	for _, path := range []string{"/", "/m/abc"} {
		resp := get(s, "GET", path, "")
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s: status %d, CSP %q", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
	if resp := get(s, "GET", "/sdk/switchboard.js", "https://elsewhere.example"); resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("the SDK must be importable from any origin")
	}
	// The API answers CORS only for allowed origins.
	if resp := get(s, "OPTIONS", "/api/v1/rooms", "https://app.example.com"); resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("allowed origin refused: %v", resp.Header)
	}
	if resp := get(s, "OPTIONS", "/api/v1/rooms", "https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("an origin not on the list got CORS access to the API")
	}
	if resp := get(s, "GET", "/api/v1/nothing", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown API path: %d", resp.StatusCode)
	}
	if resp := get(s, "GET", "/api/v1/rooms", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("listing rooms without credentials: %d", resp.StatusCode)
	}
}

func TestCleanFileName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":             "report.pdf",
		"../../etc/passwd":       "passwd",
		`C:\Users\a\secret.txt`:  "secret.txt",
		"a\x00b\nc.txt":          "abc.txt",
		"":                       "file",
		"..":                     "file",
		strings.Repeat("é", 300): strings.Repeat("é", 200),
	} {
		if got := cleanFileName(in); got != want {
			t.Errorf("cleanFileName(%q) = %q, want %q", in, got, want)
		}
	}
}
