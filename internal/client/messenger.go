package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/protocol"
)

// Messenger is a Go client of the messaging protocol (a signed-in device):
// tests, `switchboard bench chat` and bots use it.
//
// It uses gorilla/websocket, as the server's side of this socket does: a
// benchmark runs ten thousand of them next to the server, and their reading
// costs should stay small.
type Messenger struct {
	ws      *websocket.Conn
	wmu     sync.Mutex // one writer at a time
	Ready   *protocol.Ready
	onEvent func(protocol.Message)
	skip    func([]byte) bool

	nextID  atomic.Int64
	mu      sync.Mutex
	pending map[string]chan protocol.Message
	done    chan struct{}
	err     error

	keepalive *time.Timer
}

// pingEvery keeps the socket from looking silent: the server closes one it
// has heard nothing from for 90 s. (The browser SDK pings as often.)
const pingEvery = 20 * time.Second

// deviceMessages are the messages a device receives, by type.
var deviceMessages = map[string]func() protocol.Message{
	"ready":         func() protocol.Message { return &protocol.Ready{} },
	"event":         func() protocol.Message { return &protocol.EventMsg{} },
	"events":        func() protocol.Message { return &protocol.Events{} },
	"history":       func() protocol.Message { return &protocol.HistoryMsg{} },
	"sent":          func() protocol.Message { return &protocol.Sent{} },
	"results":       func() protocol.Message { return &protocol.Results{} },
	"conversation":  func() protocol.Message { return &protocol.ConversationMsg{} },
	"removed":       func() protocol.Message { return &protocol.Removed{} },
	"channels":      func() protocol.Message { return &protocol.ChannelList{} },
	"receipt":       func() protocol.Message { return &protocol.Receipt{} },
	"typing":        func() protocol.Message { return &protocol.Typing{} },
	"presence":      func() protocol.Message { return &protocol.PresenceMsg{} },
	"calling":       func() protocol.Message { return &protocol.Calling{} },
	"call.incoming": func() protocol.Message { return &protocol.CallIncoming{} },
	"call.state":    func() protocol.Message { return &protocol.CallState{} },
	"call.dtmf":     func() protocol.Message { return &protocol.CallDTMF{} },
	"contact":       func() protocol.Message { return &protocol.ContactMsg{} },
	"ok":            func() protocol.Message { return &protocol.OK{} },
	"pong":          func() protocol.Message { return &protocol.Pong{} },
	"error":         func() protocol.Message { return &protocol.Error{} },
}

// DecodeServer parses a frame the server sent to a device.
func DecodeServer(data []byte) (protocol.Message, error) {
	var head protocol.Head
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, err
	}
	mk, ok := deviceMessages[head.Type]
	if !ok {
		return nil, fmt.Errorf("unknown message type %q", head.Type)
	}
	m := mk()
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s: %w", head.Type, err)
	}
	return m, nil
}

// DialMessenger connects to wsURL (ws://host/api/v1/connect) with header
// (a session cookie or an Authorization bearer token) and waits for ready.
// onEvent, if not nil, gets every message that is not a reply, in order,
// on the reading goroutine: it must not block for long.
func DialMessenger(ctx context.Context, wsURL string, header http.Header, onEvent func(protocol.Message)) (*Messenger, error) {
	return DialMessengerWith(ctx, wsURL, MessengerOptions{Header: header, OnEvent: onEvent})
}

// MessengerOptions are the settings of DialMessengerWith.
type MessengerOptions struct {
	Header  http.Header
	OnEvent func(protocol.Message)
	// Skip, if set, sees each frame before it is decoded; a frame it returns
	// true for is dropped undecoded (benchmarks count frames cheaply). The
	// frame is only valid during the call.
	Skip func(frame []byte) bool
}

// DialMessengerWith is DialMessenger with all the options.
func DialMessengerWith(ctx context.Context, wsURL string, o MessengerOptions) (*Messenger, error) {
	header, onEvent := o.Header, o.OnEvent
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("connect: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	ws.SetReadLimit(16 << 20)
	m := &Messenger{ws: ws, onEvent: onEvent, skip: o.Skip, pending: map[string]chan protocol.Message{}, done: make(chan struct{})}
	if d, ok := ctx.Deadline(); ok {
		ws.SetReadDeadline(d)
	}
	_, data, err := ws.ReadMessage()
	ws.SetReadDeadline(time.Time{})
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("waiting for ready: %w", err)
	}
	first, err := DecodeServer(data)
	ready, ok := first.(*protocol.Ready)
	if err != nil || !ok {
		ws.Close()
		return nil, fmt.Errorf("first message is not ready: %.200s", data)
	}
	m.Ready = ready
	m.keepalive = time.AfterFunc(pingEvery, m.ping)
	go m.read()
	return m, nil
}

func (m *Messenger) read() {
	defer close(m.done)
	defer m.ws.Close() // whatever ended the reading, the socket is done with
	// One buffer for every frame: Skip sees it without a copy, and only
	// frames decoded into messages get their own.
	var buf bytes.Buffer
	for {
		_, r, err := m.ws.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			m.mu.Lock()
			m.err = err
			for id, ch := range m.pending {
				close(ch)
				delete(m.pending, id)
			}
			m.mu.Unlock()
			return
		}
		if m.skip != nil && m.skip(buf.Bytes()) {
			continue
		}
		msg, err := DecodeServer(bytes.Clone(buf.Bytes()))
		if err != nil {
			continue
		}
		if id := protocol.RequestID(msg); id != "" {
			m.mu.Lock()
			ch := m.pending[id]
			delete(m.pending, id)
			m.mu.Unlock()
			if ch != nil {
				ch <- msg
				continue
			}
		}
		if m.onEvent != nil {
			m.onEvent(msg)
		}
	}
}

// ping keeps the connection alive until it ends. A timer, not a goroutine,
// so that thousands of messengers (benchmarks) cost little.
func (m *Messenger) ping() {
	select {
	case <-m.done:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	m.Post(ctx, &protocol.Ping{})
	cancel()
	m.keepalive.Reset(pingEvery)
}

// ErrClosed is returned for requests on a closed connection.
var ErrClosed = errors.New("messenger: connection closed")

// Request sends msg with a fresh id and waits for its reply. An error reply
// is returned as a *protocol.Error.
func (m *Messenger) Request(ctx context.Context, msg protocol.Message) (protocol.Message, error) {
	id := strconv.FormatInt(m.nextID.Add(1), 10)
	ch := make(chan protocol.Message, 1)
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	m.pending[id] = ch
	m.mu.Unlock()
	if err := m.write(ctx, protocol.Encode(protocol.WithID(msg, id))); err != nil {
		m.mu.Lock()
		delete(m.pending, id)
		m.mu.Unlock()
		return nil, err
	}
	select {
	case reply, ok := <-ch:
		if !ok {
			return nil, ErrClosed
		}
		if e, isErr := reply.(*protocol.Error); isErr {
			return nil, e
		}
		return reply, nil
	case <-ctx.Done():
		m.mu.Lock()
		delete(m.pending, id)
		m.mu.Unlock()
		return nil, ctx.Err()
	}
}

// Post sends msg without waiting for anything.
func (m *Messenger) Post(ctx context.Context, msg protocol.Message) error {
	return m.write(ctx, protocol.Encode(msg))
}

// Close closes the connection; Done is closed once it is.
func (m *Messenger) Close() {
	m.keepalive.Stop()
	m.wmu.Lock()
	m.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	m.wmu.Unlock()
	// The server answers the close frame and closes; the reader then ends.
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		m.ws.Close()
	}
}

// Drop cuts the connection without a closing handshake, as a lost network does.
func (m *Messenger) Drop() { m.ws.Close() }

// write sends one frame, within ctx's deadline if it has one.
func (m *Messenger) write(ctx context.Context, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	d, _ := ctx.Deadline()
	m.ws.SetWriteDeadline(d)
	return m.ws.WriteMessage(websocket.TextMessage, frame)
}

// Done is closed when the connection has ended.
func (m *Messenger) Done() <-chan struct{} { return m.done }
