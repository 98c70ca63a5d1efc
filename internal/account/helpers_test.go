package account

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/store"
	"switchboard/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// testParams keep hashing cheap in tests; production uses DefaultParams.
var testParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer collects log output from concurrent handlers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a Service with a real store behind a real HTTP server.
type env struct {
	t     *testing.T
	svc   *Service
	st    *store.Store
	srv   *httptest.Server
	mux   *http.ServeMux
	clock *clock
	logs  *logBuffer
}

type option func(*Config)

func newEnv(t *testing.T, opts ...option) *env { return newEnvOn(t, "", opts...) }

// newEnvOn builds an env on SQLite (dbURL "") or on the PostgreSQL at dbURL.
func newEnvOn(t *testing.T, dbURL string, opts ...option) *env {
	t.Helper()
	st, err := store.OpenDatabase(t.Context(), t.TempDir(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, clock: &clock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}, logs: &logBuffer{}}
	// A generous rate limit: tests sign in often from one address. The
	// rate limit test sets its own.
	cfg := Config{Store: st, Now: e.clock.Now, Password: testParams, LoginPerMinute: 1000,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, o := range opts {
		o(&cfg)
	}
	e.svc, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.mux = http.NewServeMux()
	e.svc.Routes(e.mux)
	e.srv = httptest.NewServer(e.mux)
	t.Cleanup(e.srv.Close)
	return e
}

// user creates an account directly.
func (e *env) user(username, role string) store.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(e.t.Context(), NewUser{Username: username, Role: role, Password: username + "-password"})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// client is one browser (its own cookie jar) or one bot (a bearer token).
type client struct {
	e      *env
	hc     *http.Client
	csrf   string
	bearer string
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type result struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// errCode is the error code of a failed request.
func (r result) errCode() string {
	s, _ := r.body["code"].(string)
	return s
}

// send makes a request with exactly the headers given, beyond JSON's
// Content-Type and the client's cookies.
func (c *client) send(method, path string, body any, hdr map[string]string) result {
	c.e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			c.e.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return r
}

// do is send with the client's credentials: its CSRF token on unsafe
// methods, or its bearer token.
func (c *client) do(method, path string, body any) result {
	c.e.t.Helper()
	hdr := map[string]string{}
	if c.bearer != "" {
		hdr["Authorization"] = "Bearer " + c.bearer
	} else if c.csrf != "" && !safeMethod(method) {
		hdr[CSRFHeader] = c.csrf
	}
	return c.send(method, path, body, hdr)
}

// login signs the client in and keeps its CSRF token; it fails the test
// unless the sign-in succeeds.
func (c *client) login(username, password string, totp ...string) result {
	c.e.t.Helper()
	body := map[string]string{"username": username, "password": password}
	if len(totp) > 0 {
		body["totp"] = totp[0]
	}
	r := c.send("POST", "/api/v1/auth/login", body, nil)
	if r.status != http.StatusOK {
		c.e.t.Fatalf("login %s: %d %s", username, r.status, r.raw)
	}
	c.csrf = r.body["csrfToken"].(string)
	return r
}

// signedIn returns a new browser signed in as u (made by env.user).
func (e *env) signedIn(u store.User) *client {
	e.t.Helper()
	c := e.client()
	c.login(u.Username, u.Username+"-password")
	return c
}

func wantStatus(t *testing.T, what string, r result, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.errCode() != code) {
		t.Fatalf("%s: %d %s, want %d %s", what, r.status, r.raw, status, code)
	}
}
