package chat

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The messaging socket uses gorilla/websocket rather than the coder/websocket
// of the meetings' signalling: a message to a channel of a hundred people is
// a hundred socket writes, and gorilla writes a text frame with one copy and
// one system call, with no per-write context or channel lock. Write buffers
// come from a pool, so an idle device holds none.
var writeBuffers sync.Pool

// upgrader returns the upgrader of the messaging socket. originPatterns are
// the other origins allowed to open it, as path.Match patterns of an origin
// (https://www.example.com, from allowed_origins) or of a host
// (*.example.com); the page's own origin always is, and requests without an
// Origin (non-browser clients) are let in: browsers always send one, so the
// check stops other sites' pages.
func upgrader(originPatterns []string) *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		WriteBufferPool:  &writeBuffers,
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			if origin == "" {
				return true
			}
			u, err := url.Parse(origin)
			if err != nil || u.Host == "" {
				return false
			}
			if strings.EqualFold(u.Host, r.Host) {
				return true
			}
			for _, p := range originPatterns {
				target := u.Host
				if strings.Contains(p, "://") {
					target = u.Scheme + "://" + u.Host
				}
				if ok, _ := path.Match(strings.ToLower(strings.TrimSuffix(p, "/")), strings.ToLower(target)); ok || p == "*" {
					return true
				}
			}
			return false
		},
	}
}

// closeSocket tells the peer why with a close frame, as far as it can within
// a second, and closes the connection (which ends a blocked read or write).
func closeSocket(ws *websocket.Conn, code int, reason string) {
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	ws.Close()
}
