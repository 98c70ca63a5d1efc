package rtc

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
)

// Sizes of the write queue. A slot holds one datagram; larger ones (none in practice: pion sends at
// most its MTU) bypass the queue.
const (
	batchSlots   = 1024 // queued datagrams, about 1.5 MB
	batchMax     = 64   // datagrams per sendmmsg
	batchSlotLen = 1500
)

// batchConn wraps the media socket. WriteTo copies the datagram into a preallocated ring and
// returns; one flusher goroutine sends what is queued with sendmmsg (x/net ipv4.PacketConn
// WriteBatch). The flusher sends as soon as it is woken and takes everything queued, up to
// batchMax, so batches grow with the load and a lone packet waits only for a goroutine wake-up
// (microseconds): there is no timer. Writes block only when the ring is full, as a full socket
// buffer would block them. Reads pass through.
//
// Hold and Release let a goroutine that is about to write a burst (the SFU fanning one incoming
// packet out to its subscribers) send it itself: while anyone holds, writes are queued without
// waking the flusher, and Release sends what is queued with sendmmsg in the releasing goroutine. That saves a goroutine wake-up (a futex and a trip through the
// scheduler) per burst. Whoever sends holds the sending token (sending), so the flusher and a
// releasing goroutine never send at once; whoever holds it sends until the queue is empty, so a
// datagram queued meanwhile is never stranded. A writer that finds the ring full wakes the
// flusher even during a hold.
//
// It implements ice.AddrPortReaderWriter, so pion's UDP mux keeps its allocation-free
// netip.AddrPort paths (the mux only adapts a bare *net.UDPConn by itself), and its LocalAddr is
// the socket's *net.UDPAddr (the mux checks it for the unspecified-address case). Nothing is
// allocated per packet.
type batchConn struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn

	mu      sync.Mutex
	space   *sync.Cond // signalled when the flusher frees slots
	waiting int        // writers waiting for space
	slots   []batchSlot
	head    uint64 // first queued slot (the flusher owns [head, head+sending))
	tail    uint64 // next free slot
	idle    bool   // the flusher waits on wake
	holds   int    // goroutines between Hold and Release
	sending bool   // a goroutine (the flusher or a releaser) is sending [head, ...)
	closed  bool

	wake chan struct{}
	done chan struct{}
	msgs []ipv4.Message // the flusher's, reused
}

type batchSlot struct {
	buf  [batchSlotLen]byte
	n    int
	addr net.UDPAddr
	ip   [16]byte
}

func newBatchConn(c *net.UDPConn) net.PacketConn {
	b := &batchConn{
		conn:  c,
		pc:    ipv4.NewPacketConn(c),
		slots: make([]batchSlot, batchSlots),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		msgs:  make([]ipv4.Message, batchMax),
	}
	b.space = sync.NewCond(&b.mu)
	for i := range b.msgs {
		b.msgs[i].Buffers = make([][]byte, 1)
	}
	go b.flush()
	return b
}

// WriteToAddrPort queues one datagram.
func (b *batchConn) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	if len(p) > batchSlotLen {
		return b.conn.WriteToUDPAddrPort(p, to)
	}
	b.mu.Lock()
	for !b.closed && b.tail-b.head == uint64(len(b.slots)) {
		if b.holds > 0 && b.idle && !b.sending { // full during a hold: nobody else would send
			b.idle = false
			b.kick()
		}
		b.waiting++
		b.space.Wait()
		b.waiting--
	}
	if b.closed {
		b.mu.Unlock()
		return 0, net.ErrClosed
	}
	s := &b.slots[b.tail%uint64(len(b.slots))]
	s.n = copy(s.buf[:], p)
	a := to.Addr()
	if a.Is4() {
		s.ip4(a.As4())
	} else {
		s.ip = a.As16()
		s.addr.IP = s.ip[:]
	}
	s.addr.Port = int(to.Port())
	s.addr.Zone = a.Zone()
	b.tail++
	// During a hold the last Release sends; while someone sends, they take this datagram too.
	wake := b.idle && b.holds == 0 && !b.sending
	if wake {
		b.idle = false
	}
	b.mu.Unlock()
	if wake {
		b.kick()
	}
	return len(p), nil
}

func (b *batchConn) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Hold defers sending until the matching Release: writes in between are only queued.
func (b *batchConn) Hold() {
	b.mu.Lock()
	b.holds++
	b.mu.Unlock()
}

// Release ends a Hold and sends everything queued, in the calling goroutine, unless someone (the
// flusher or another releaser) is sending already: they then send these datagrams too. It does not
// wait for other holders: under load holds overlap nearly all the time, and waiting for the last
// one would turn steady fan-outs into rare large bursts.
func (b *batchConn) Release() {
	b.mu.Lock()
	b.holds--
	if b.sending || b.head == b.tail || b.closed { // closed: the flusher drains
		b.mu.Unlock()
		return
	}
	b.sendQueued()
	b.mu.Unlock()
}

// sendQueued sends until the queue is empty. Called with mu held and the sending token free;
// returns with mu held and the token free.
func (b *batchConn) sendQueued() {
	b.sending = true
	for b.head != b.tail {
		n := int(min(b.tail-b.head, batchMax))
		first := b.head
		b.mu.Unlock()
		b.send(first, n)
		b.mu.Lock()
		b.head += uint64(n)
		if b.waiting > 0 {
			b.space.Broadcast()
		}
	}
	b.sending = false
	if b.closed { // the flusher may be waiting for the token to drain and exit
		b.kick()
	}
}

// send writes the slots [first, first+n), which belong to the holder of the sending token.
func (b *batchConn) send(first uint64, n int) {
	for i := range n {
		s := &b.slots[(first+uint64(i))%uint64(len(b.slots))]
		b.msgs[i].Buffers[0] = s.buf[:s.n]
		b.msgs[i].Addr = &s.addr
	}
	for off := 0; off < n; {
		k, err := b.pc.WriteBatch(b.msgs[off:n], 0)
		off += max(k, 0) // -1 when the first datagram failed
		if err != nil {
			// The datagram at off failed (an unreachable destination, a deadline set by the
			// ICE mux while it aborts writes, a closed socket): drop it as the network would.
			off++
		}
	}
}

func (s *batchSlot) ip4(a [4]byte) {
	copy(s.ip[:4], a[:])
	s.addr.IP = s.ip[:4]
}

// WriteTo queues one datagram for a *net.UDPAddr.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.InvalidAddrError("not a UDP address")}
	}
	return b.WriteToAddrPort(p, ua.AddrPort())
}

// flush is the goroutine that sends when nobody holds the queue (or when the ring is full).
func (b *batchConn) flush() {
	defer close(b.done)
	b.mu.Lock()
	for {
		for b.sending || (b.head == b.tail && !b.closed) ||
			(b.holds > 0 && !b.closed && b.tail-b.head < uint64(len(b.slots))) {
			b.idle = true
			b.mu.Unlock()
			<-b.wake
			b.mu.Lock()
		}
		if b.head == b.tail { // closed and drained
			b.mu.Unlock()
			return
		}
		b.sendQueued()
	}
}

// ReadFromAddrPort reads from the socket.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.conn.ReadFromUDPAddrPort(p)
}

// ReadFrom reads from the socket.
func (b *batchConn) ReadFrom(p []byte) (int, net.Addr, error) { return b.conn.ReadFrom(p) }

// Close sends what is queued (waiting at most a second), then closes the socket. Writers waiting for
// space and later writes get net.ErrClosed.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return net.ErrClosed
	}
	b.closed = true
	b.space.Broadcast()
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
	case <-time.After(time.Second):
	}
	err := b.conn.Close()
	<-b.done
	return err
}

func (b *batchConn) LocalAddr() net.Addr                { return b.conn.LocalAddr() }
func (b *batchConn) SetDeadline(t time.Time) error      { return b.conn.SetDeadline(t) }
func (b *batchConn) SetReadDeadline(t time.Time) error  { return b.conn.SetReadDeadline(t) }
func (b *batchConn) SetWriteDeadline(t time.Time) error { return b.conn.SetWriteDeadline(t) }
