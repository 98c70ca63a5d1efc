package chat

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"switchboard/internal/protocol"
)

// device is one connected device of a signed-in person: a messaging socket.
//
// An idle device costs little: no goroutine of its own besides the one
// blocked reading its socket, and no queue. Frames are written inline by
// their sender while the socket has room; a writer goroutine exists only
// while frames wait, and exits when none came for writerLinger.
type device struct {
	id    string
	me    Identity
	ws    *websocket.Conn
	raw   syscall.RawConn // the socket, to ask the kernel what it holds; nil if not a socket
	since time.Time       // when it connected

	writeDue atomic.Int64 // unix nanoseconds by which the write in progress must end; 0: none

	mu      sync.Mutex
	queue   [][]byte
	holding bool // frames wait until ready has gone out

	pending  []protocol.Message // requests read, not yet handled
	handling bool               // a handler goroutine is running
	writing  bool               // a writer goroutine is running
	closed   bool
	max      int

	wake chan struct{} // tells a lingering writer that frames wait; made with the writer

	idle      atomic.Bool  // the person has not used this device for a while
	lastHeard atomic.Int64 // unix seconds of the last frame from the device
	quit      chan struct{}
	once      sync.Once
}

func newDevice(me Identity, ws *websocket.Conn, queue int) *device {
	d := &device{id: newID(), me: me, ws: ws, holding: true, max: queue, quit: make(chan struct{}), since: time.Now()}
	if sc, ok := ws.NetConn().(syscall.Conn); ok {
		d.raw, _ = sc.SyscallConn()
	}
	d.lastHeard.Store(time.Now().Unix())
	return d
}

// send sends or queues a frame without blocking. A frame for a device that
// is keeping up (nothing in our queue, room in the kernel's buffer) is
// written at once by the caller: no goroutine wakes up for it, which is most
// of what a delivery costs besides the write itself. Otherwise the device's writer
// goroutine sends it. A device that cannot keep up is disconnected: it
// reconnects and syncs, losing nothing, which is better than letting one
// slow reader hold memory or delay everyone else.
func (d *device) send(frame []byte) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	if !d.writing && !d.holding && d.raw != nil && socketHasRoom(d.raw, len(frame)+14) {
		d.writing = true
		d.mu.Unlock()
		// The room check makes a block unlikely, not impossible (the kernel
		// counts its own overhead per packet, and memory pressure): a write
		// still going after a second means a peer that is gone, and the
		// watchdog closes it (see cutStuckWrites).
		if !d.writeFrame(frame, inlineWriteTimeout) {
			return
		}
		d.mu.Lock()
		start := len(d.queue) > 0 && !d.closed // queued while we wrote
		d.writing = start
		d.mu.Unlock()
		if start {
			go d.write()
		}
		return
	}
	if len(d.queue) >= d.max {
		d.mu.Unlock()
		d.close(websocket.ClosePolicyViolation, "too slow")
		return
	}
	d.queue = append(d.queue, frame)
	start := !d.writing && !d.holding
	d.writing = d.writing || start
	wake := d.wake
	d.mu.Unlock()
	if start {
		go d.write()
	} else if wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// release sends first, then everything held meanwhile, in order.
func (d *device) release(first []byte) {
	d.mu.Lock()
	d.queue = append([][]byte{first}, d.queue...)
	d.holding = false
	start := !d.writing && !d.closed
	d.writing = d.writing || start
	d.mu.Unlock()
	if start {
		go d.write()
	}
}

// How long a write may take: an inline write should take microseconds; a
// queued one may wait for a slow network to drain a large frame (a page of
// history). Not socket deadlines, which would arm a timer on every write:
// a watchdog looks every second (cutStuckWrites).
const (
	inlineWriteTimeout = time.Second
	queuedWriteTimeout = 30 * time.Second
)

// writerLinger is how long a writer waits for more frames before it exits:
// a device that is behind keeps its writer instead of starting one per
// frame. (A device that keeps up needs none: send writes inline.)
const writerLinger = 250 * time.Millisecond

// write drains the queue, waits a little for more, then exits.
func (d *device) write() {
	d.mu.Lock()
	d.wake = make(chan struct{}, 1)
	wake := d.wake
	d.mu.Unlock()
	linger := time.NewTimer(writerLinger)
	defer linger.Stop()
	for {
		d.mu.Lock()
		batch := d.queue
		d.queue = nil
		if d.closed {
			d.writing, d.wake = false, nil
			d.mu.Unlock()
			return
		}
		if len(batch) == 0 {
			d.mu.Unlock()
			linger.Reset(writerLinger)
			select {
			case <-wake:
				continue
			case <-d.quit:
				continue
			case <-linger.C:
			}
			d.mu.Lock()
			if len(d.queue) > 0 && !d.closed {
				d.mu.Unlock()
				continue
			}
			d.writing, d.wake = false, nil
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		for _, b := range batch {
			// A peer that stops reading fills the queue and is closed, which
			// ends a blocked write; the deadline covers one that stops
			// reading when nothing more comes for it.
			if !d.writeFrame(b, queuedWriteTimeout) {
				break
			}
		}
	}
}

// writeFrame writes one frame, due within timeout (the watchdog closes the
// device otherwise), and reports whether it went; a failed write closes the
// device. Only the goroutine that set d.writing may call it.
func (d *device) writeFrame(frame []byte, timeout time.Duration) bool {
	d.writeDue.Store(time.Now().Add(timeout).UnixNano())
	err := d.ws.WriteMessage(websocket.TextMessage, frame)
	d.writeDue.Store(0)
	if err != nil {
		d.close(websocket.CloseInternalServerErr, "write failed")
		return false
	}
	return true
}

// close disconnects the device with a close frame (given up after a second
// when the peer does not read).
func (d *device) close(code int, reason string) {
	d.once.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.queue = nil
		d.mu.Unlock()
		close(d.quit)
		go closeSocket(d.ws, code, reason)
	})
}

// hub finds the connected devices of each person.
type hub struct {
	mu    sync.RWMutex
	users map[string][]*device
	count atomic.Int64
}

func newHub() *hub { return &hub{users: map[string][]*device{}} }

// add registers d and reports whether it is its person's first device.
func (h *hub) add(d *device) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users[d.me.UserID] = append(h.users[d.me.UserID], d)
	h.count.Add(1)
	return len(h.users[d.me.UserID]) == 1
}

// remove unregisters d and reports whether its person has no device left.
func (h *hub) remove(d *device) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.users[d.me.UserID]
	for i, x := range list {
		if x == d {
			list = append(list[:i:i], list[i+1:]...)
			h.count.Add(-1)
			break
		}
	}
	if len(list) == 0 {
		delete(h.users, d.me.UserID)
		return true
	}
	h.users[d.me.UserID] = list
	return false
}

// toUser queues frame on every device of user.
func (h *hub) toUser(user string, frame []byte) {
	for _, d := range h.devicesOf(user) {
		d.send(frame)
	}
}

// toDevices queues frame on user's devices that pass keep.
func (h *hub) toDevices(user string, frame []byte, keep func(*device) bool) {
	for _, d := range h.devicesOf(user) {
		if keep(d) {
			d.send(frame)
		}
	}
}

// devicesOf is user's devices now. The slice is never changed in place
// (add appends past its end, remove builds a new one), so it can be used
// after the lock is released: sending, which may write, holds no hub lock.
func (h *hub) devicesOf(user string) []*device {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.users[user]
}

// online reports whether user has a connected device.
func (h *hub) online(user string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users[user]) > 0
}

// active reports whether user has a connected device in use.
func (h *hub) active(user string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, d := range h.users[user] {
		if !d.idle.Load() {
			return true
		}
	}
	return false
}

// allIdle reports whether every connected device of user is idle (false when none).
func (h *hub) allIdle(user string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	list := h.users[user]
	for _, d := range list {
		if !d.idle.Load() {
			return false
		}
	}
	return len(list) > 0
}

func (h *hub) each(f func(*device)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, list := range h.users {
		for _, d := range list {
			f(d)
		}
	}
}

func (h *hub) closeAll(reason string) {
	h.each(func(d *device) { d.close(websocket.CloseGoingAway, reason) })
}

// Devices that send nothing for this long are gone (the SDK pings every 20 s).
const silentLimit = 90 * time.Second

// reapSilent closes the devices not heard from within silentLimit; a TCP
// connection to a vanished peer may otherwise look open for a long time.
func (h *hub) reapSilent(now time.Time) {
	cutoff := now.Add(-silentLimit).Unix()
	h.each(func(d *device) {
		if d.lastHeard.Load() < cutoff {
			d.close(websocket.ClosePolicyViolation, "no messages for 90 s; send ping")
		}
	})
}

// Disconnect closes the devices user connected with credential (the id of a
// session or an API token), or all of user's devices when credential is "":
// the credential ended (signed out, revoked, account disabled, password
// changed). Devices that may still reconnect do, and sync.
func (s *Service) Disconnect(user, credential string) {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	for _, d := range s.hub.users[user] {
		if credential == "" || d.me.Session == credential {
			d.close(websocket.ClosePolicyViolation, "signed out")
		}
	}
}

func (d *device) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// DisconnectUnless closes every device whose credential (Identity.Session)
// is not in live, the credentials valid at asOf: the sweep that catches
// credentials ended where Disconnect is not told, such as by `switchboard
// user disable` in another process, or a session that expired. Devices
// without a credential id, or connected after asOf (with a credential newer
// than the list, maybe), are left alone.
func (s *Service) DisconnectUnless(live map[string]bool, asOf time.Time) int {
	n := 0
	s.hub.each(func(d *device) {
		if d.me.Session != "" && !live[d.me.Session] && d.since.Before(asOf) {
			d.close(websocket.ClosePolicyViolation, "signed out")
			n++
		}
	})
	return n
}

// cutStuckWrites closes the devices whose write has gone on past its due
// time: closing the socket ends the write, and frees whoever was writing
// (for an inline write, the sender fanning out a message).
func (h *hub) cutStuckWrites(now time.Time) {
	h.each(func(d *device) {
		if due := d.writeDue.Load(); due != 0 && now.UnixNano() > due {
			d.close(websocket.ClosePolicyViolation, "too slow")
		}
	})
}
