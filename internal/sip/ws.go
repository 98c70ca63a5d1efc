package sip

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// SIP over WebSocket (RFC 7118) shares the HTTP server's port, so browsers
// reach it wherever they reach the web app, through the same TLS.
//
// sipgo's WebSocket transport serves a net.Listener and does the HTTP
// upgrade itself, reading the request from the raw connection; it cannot
// adopt a connection an http.Server has already read the request from. So
// WebSocketHandler checks the request, hijacks the connection, and hands it
// to sipgo through an in-memory listener with the request's bytes put back
// in front of whatever the client sent after them. sipgo then answers the
// upgrade and owns the connection: requests to a browser's binding go back
// over it.

// wsListener is a net.Listener fed by WebSocketHandler.
type wsListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newWSListener() *wsListener {
	return &wsListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *wsListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a placeholder: the real address is the HTTP server's.
func (l *wsListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero} }

// offer passes c to sipgo, or reports false when the server is closing.
func (l *wsListener) offer(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// replayConn is a hijacked connection whose first reads return the HTTP
// request again, and whose RemoteAddr may be the client's behind a proxy.
type replayConn struct {
	net.Conn
	r      io.Reader
	remote net.Addr
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *replayConn) RemoteAddr() net.Addr       { return c.remote }

// maxWSHandshake bounds the request we replay; browsers send about 1 KB.
const maxWSHandshake = 8 << 10

// WebSocketHandler serves SIP over WebSocket: mount it on the HTTP server
// (for example at /sip). It refuses requests that are not a WebSocket
// upgrade offering the "sip" subprotocol, and sources the guard blocks.
func (s *Server) WebSocketHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !headerHasToken(r.Header, "Connection", "upgrade") ||
			!headerHasToken(r.Header, "Upgrade", "websocket") {
			w.Header().Set("Upgrade", "websocket")
			http.Error(w, "SIP over WebSocket: upgrade required", http.StatusUpgradeRequired)
			return
		}
		if !headerHasToken(r.Header, "Sec-WebSocket-Protocol", "sip") {
			http.Error(w, `SIP over WebSocket needs the "sip" subprotocol (RFC 7118)`, http.StatusBadRequest)
			return
		}
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			http.Error(w, "bad remote address", http.StatusBadRequest)
			return
		}
		client := peer.Addr().Unmap()
		if s.cfg.WebSocketClientAddr != nil {
			if a, ok := s.cfg.WebSocketClientAddr(r); ok {
				client = a.Unmap()
			}
		}
		now := s.cfg.Now()
		if s.guard.blocked(client, now) || !s.guard.admit(client, now) {
			s.m.Dropped.Add(1)
			http.Error(w, "too many requests", http.StatusTooManyRequests)
			return
		}
		var head bytes.Buffer
		fmt.Fprintf(&head, "GET %s HTTP/1.1\r\nHost: %s\r\n", r.RequestURI, r.Host)
		for k, vs := range r.Header {
			for _, v := range vs {
				fmt.Fprintf(&head, "%s: %s\r\n", k, v)
			}
		}
		head.WriteString("\r\n")
		if head.Len() > maxWSHandshake {
			http.Error(w, "request headers too large", http.StatusRequestHeaderFieldsTooLarge)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "cannot take over this connection", http.StatusInternalServerError)
			return
		}
		conn, rw, err := hj.Hijack()
		if err != nil {
			s.log.Debug("sip: websocket hijack failed", "err", err)
			return
		}
		// A hijacked connection keeps the HTTP server's deadlines. Give the
		// handshake its own, lifted once sipgo has answered it.
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		port := int(peer.Port())
		if port == 0 {
			// An HTTP server behind a trusted proxy gives the client's
			// address without a port. sipgo keys its connections by remote
			// address, so each connection gets a port of its own.
			port = 1024 + int(s.wsPorts.Add(1)%64512)
		}
		rc := &replayConn{
			Conn:   conn,
			r:      io.MultiReader(&head, rw.Reader),
			remote: &net.TCPAddr{IP: client.AsSlice(), Port: port},
		}
		if !s.ws.offer(&deadlineClearingConn{replayConn: rc}) {
			conn.Close()
		}
	})
}

// deadlineClearingConn lifts the handshake deadline after the first write,
// which is sipgo's 101 Switching Protocols: from then on the connection is a
// long-lived SIP flow.
type deadlineClearingConn struct {
	*replayConn
	once sync.Once
}

func (c *deadlineClearingConn) Write(p []byte) (int, error) {
	n, err := c.replayConn.Conn.Write(p)
	c.once.Do(func() { c.replayConn.Conn.SetDeadline(time.Time{}) })
	return n, err
}

// headerHasToken reports whether a comma-separated header contains token,
// ignoring case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
