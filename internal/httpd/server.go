// Package httpd is the HTTP front: the embedded web app and SDK, the REST API, the signalling
// WebSocket endpoint, file sharing, health and metrics, with security headers, CORS and rate limits.
package httpd

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"switchboard/internal/room"
	"switchboard/internal/store"
)

// Files is the part of the store that keeps shared files.
type Files interface {
	SaveFile(ctx context.Context, meta store.File, r io.Reader, maxSize int64) (store.File, error)
	OpenFile(ctx context.Context, room, id string) (store.File, *os.File, error)
}

// Keys looks up API keys.
type Keys interface {
	APIKey(ctx context.Context, id string) (store.APIKey, error)
}

// Sessions resolves a signalling session token to the participant and room it belongs to.
type Sessions interface {
	SessionRoom(token string) (participant, room string, ok bool)
}

// Config wires the HTTP server to the rest of the system.
type Config struct {
	Registry       *room.Registry
	Signal         http.Handler
	Sessions       Sessions
	Files          Files
	Keys           Keys
	Web            fs.FS // the embedded web app: index.html, app/, sdk/
	Metrics        http.Handler
	Ready          func() error // health check
	AllowedOrigins []string
	TrustedProxies []netip.Prefix // reverse proxies whose X-Forwarded-For is believed
	OpenCreation   bool
	MaxUpload      int64
	PublicURL      string // base for meeting links; "" derives it from the request
	// Routes registers the other features' endpoints (accounts, messaging,
	// push, webhooks) on the same mux, behind the same headers.
	Routes func(mux *http.ServeMux)
	// ConversationFiles authorizes a file upload or download in conversation
	// conv and returns the file store's room for it; when it returns false it
	// has answered the request. Nil disables conversation files.
	ConversationFiles func(w http.ResponseWriter, r *http.Request, conv string) (room string, ok bool)
	Logger            *slog.Logger
	Now               func() time.Time
}

// Server is the HTTP handler.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	gz      *gzipped
	limits  *limiter
	origins []string
}

// New builds the handler.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), limits: newLimiter(), gz: newGzipped(cfg.Web)}
	for _, o := range cfg.AllowedOrigins {
		s.origins = append(s.origins, strings.TrimSuffix(o, "/"))
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.Handle("GET /api/v1/signal", s.cfg.Signal)
	m.HandleFunc("POST /api/v1/rooms", s.limited(10, s.createRoom))
	m.HandleFunc("GET /api/v1/rooms", s.admin(s.listRooms))
	m.HandleFunc("GET /api/v1/rooms/{room}", s.admin(s.getRoom))
	m.HandleFunc("DELETE /api/v1/rooms/{room}", s.admin(s.deleteRoom))
	m.HandleFunc("POST /api/v1/rooms/{room}/files", s.limited(5, s.uploadFile))
	m.HandleFunc("GET /api/v1/rooms/{room}/files/{file}", s.downloadFile)
	m.HandleFunc("POST /api/v1/tokens", s.limited(20, s.createToken))
	if s.cfg.ConversationFiles != nil {
		m.HandleFunc("POST /api/v1/conversations/{id}/files", s.limited(30, s.uploadConversationFile))
		m.HandleFunc("GET /api/v1/conversations/{id}/files/{file}", s.downloadConversationFile)
	}
	if s.cfg.Routes != nil {
		s.cfg.Routes(m)
	}
	m.HandleFunc("OPTIONS /api/v1/", s.preflight)
	m.HandleFunc("GET /healthz", s.health)
	if s.cfg.Metrics != nil {
		m.Handle("GET /metrics", s.cfg.Metrics)
	}
	m.HandleFunc("GET /sdk/", s.sdk)
	m.HandleFunc("GET /widget.js", s.sdk)          // the customer-contact widget, embedded by other sites
	m.HandleFunc("GET /c/{handle}", s.contactPage) // contact links
	m.HandleFunc("GET /contact", s.contactPage)    // the contact portal
	m.HandleFunc("GET /console", s.index)
	m.HandleFunc("GET /supervisor", s.index)
	m.HandleFunc("GET /phone", s.index)     // the dialer
	m.HandleFunc("GET /telephony", s.index) // the telephony admin page
	m.HandleFunc("GET /m/{room}", s.index)
	// Pages of the signed-in app that links point at (first-run setup,
	// invitations); the app reads their path and query.
	m.HandleFunc("GET /setup", s.index)
	m.HandleFunc("GET /login", s.index)
	m.HandleFunc("GET /invite/{token}", s.index)
	m.HandleFunc("GET /{$}", s.index)
	m.Handle("GET /", s.static())
}

// ServeHTTP adds the headers every response carries, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	r = behindProxy(r, s.cfg.TrustedProxies)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		s.cors(w, r)
	}
	s.mux.ServeHTTP(w, r)
}

// cors lets pages on allowed origins call the API (the SDK uploads files and creates rooms).
func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || !s.originAllowed(origin) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Max-Age", "600")
}

func (s *Server) originAllowed(origin string) bool {
	return slices.Contains(s.origins, "*") || slices.Contains(s.origins, origin)
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			writeError(w, http.StatusServiceUnavailable, "unhealthy", err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// index serves the single-page app for / and /m/{room}.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	s.page(w, "index.html", "'self'", "camera=(self), microphone=(self), display-capture=(self)")
}

// contactPage serves the public pages of customer contact: a person's
// contact link and the portal. Nobody may frame them.
func (s *Server) contactPage(w http.ResponseWriter, r *http.Request) {
	s.page(w, "contact.html", "'none'", "camera=(self), microphone=(self)")
}

// page serves an HTML page of the embedded app with its security headers.
func (s *Server) page(w http.ResponseWriter, name, frameAncestors, permissions string) {
	b, err := fs.ReadFile(s.cfg.Web, name)
	if err != nil {
		http.Error(w, name+" missing from this build", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors "+frameAncestors+"; base-uri 'none'; form-action 'self'")
	h.Set("Permissions-Policy", permissions)
	w.Write(b)
}

// sdk serves the JS SDK to any origin: it is public code, and pages elsewhere import it.
func (s *Server) sdk(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	s.static().ServeHTTP(w, r)
}

func (s *Server) static() http.Handler {
	files := http.FileServerFS(s.cfg.Web)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeError(w, http.StatusNotFound, "not_found", "no such API endpoint: "+r.Method+" "+r.URL.Path)
			return
		}
		if name := strings.TrimPrefix(path.Clean(r.URL.Path), "/"); name != "" && s.gz.serve(w, r, name) {
			return
		}
		files.ServeHTTP(w, r)
	})
}

// baseURL is where people reach this server, for links in API answers.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host}).String()
}

// clientIP is the peer address of the request (proxies are not trusted for rate limiting).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limited applies a per-client-address rate limit of perMinute requests (with a small burst).
func (s *Server) limited(perMinute int, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.limits.allow(r.Pattern+" "+clientIP(r), perMinute) {
			w.Header().Set("Retry-After", "10")
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests; try again shortly")
			return
		}
		h(w, r)
	}
}

// admin requires API-key credentials: HTTP Basic with key id and secret, or a bearer token with
// the admin grant.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		claims, err := s.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="switchboard"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		if !claims.Admin {
			writeError(w, http.StatusForbidden, "forbidden", "the token lacks the admin grant")
			return
		}
		h(w, r)
	}
}
