package rtc

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sizes of the write queue and the read batch. A write slot holds one datagram; larger ones (none in
// practice: pion sends at most its MTU) bypass the queue. A read slot holds any datagram a WebRTC
// peer sends (they keep to the path MTU); a longer one is cut, as a short read buffer cuts it.
const (
	batchSlots   = 1024 // queued datagrams, about 1.5 MB
	batchMax     = 64   // datagrams per sendmmsg
	batchSlotLen = 1500
	readBatch    = 32   // datagrams per recvmmsg
	readSlotLen  = 8192 // pion's UDP mux reads with a buffer of this size
)

// batchConn wraps the media socket. A write copies the datagram into a preallocated ring; whoever
// holds the sending token sends what is queued, up to batchMax datagrams per sendmmsg, until the
// queue is empty. A writer that finds nobody sending takes the token and sends at once, in its own
// goroutine; writers that come meanwhile only queue, and their datagrams go out in the sender's
// next batch. So batches grow with the load, a lone datagram waits for nothing, and no goroutine is
// woken to send (an earlier version had a flusher goroutine: waking it for each of pion's RTCP and
// STUN writes cost more than the system call). Writes block only when the ring is full, as a full
// socket buffer would block them.
//
// Hold and Release let a goroutine that is about to write a burst (the SFU fanning one incoming
// packet out to its subscribers) send it with one system call: while anyone holds, writes are only
// queued, and Release sends what is queued in the releasing goroutine. A writer that finds the ring
// full during a hold sends it.
//
// Reads take up to readBatch datagrams with one recvmmsg and hand them out one by one.
//
// Both system calls are made with syscall.RawSyscall6, on the non-blocking socket, through its
// RawConn (which waits in Go's poller when the socket is not ready). A plain syscall.Syscall tells
// the scheduler a goroutine may block: it wakes the runtime's monitor thread (sysmon) when that
// sleeps and restarts its 20 µs polling, and a syscall outlasting a poll hands the P to another
// thread. With media arriving every millisecond or so, that kept sysmon and the idle P's thread
// sleeping and waking tens of thousands of times a second, a tenth of the server's CPU on a
// virtual machine, where every switch is expensive. These calls never block, and a sendmmsg of a
// full batch takes tens of microseconds.
//
// It implements ice.AddrPortReaderWriter, so pion's UDP mux keeps its allocation-free
// netip.AddrPort paths (the mux only adapts a bare *net.UDPConn by itself), and its LocalAddr is
// the socket's *net.UDPAddr (the mux checks it for the unspecified-address case). Nothing is
// allocated per packet.
type batchConn struct {
	conn *net.UDPConn
	raw  syscall.RawConn

	mu      sync.Mutex
	space   *sync.Cond // signalled when a sender frees slots, and when it gives the token back
	waiting int        // writers waiting for space
	slots   []batchSlot
	head    uint64 // first queued slot
	tail    uint64 // next free slot
	holds   int    // goroutines between Hold and Release
	sending bool   // the sending token: its holder sends [head, tail) and owns the send state below
	closed  bool

	// hdrs[i] describes slots[i] for sendmmsg: set up once, its lengths set when a datagram is
	// queued. A batch is a run of consecutive slots, so it is a run of consecutive headers.
	hdrs     []mmsghdr
	iovs     []unix.Iovec
	sendFn   func(fd uintptr) bool // b.sendmmsg, made once (a method value allocates)
	sendAt   int                   // the batch sendmmsg sends: hdrs[sendAt : sendAt+sendN]
	sendN    int
	sendDone int
	sendErr  syscall.Errno

	rmu    sync.Mutex // the read side below
	rhdrs  [readBatch]mmsghdr
	riovs  [readBatch]unix.Iovec
	rbufs  *[readBatch][readSlotLen]byte
	rnames [readBatch]unix.RawSockaddrInet6
	rn, ri int // datagrams in the batch, and the next to hand out
	rerr   syscall.Errno
	readFn func(fd uintptr) bool
	zones  map[uint32]string // IPv6 scope ids seen, by name
}

// mmsghdr is struct mmsghdr of linux (x/sys lays it out for each architecture): a msghdr and the
// datagram length the kernel returns.
type mmsghdr = unix.Mmsghdr

type batchSlot struct {
	buf [batchSlotLen]byte
	sa  unix.RawSockaddrInet6 // the destination, as sendmmsg takes it (an IPv4 one in its first bytes)
}

func newBatchConn(c *net.UDPConn) net.PacketConn {
	raw, err := c.SyscallConn()
	if err != nil { // only for a closed socket
		return c
	}
	b := &batchConn{
		conn:  c,
		raw:   raw,
		slots: make([]batchSlot, batchSlots),
		hdrs:  make([]mmsghdr, batchSlots),
		iovs:  make([]unix.Iovec, batchSlots),
		rbufs: new([readBatch][readSlotLen]byte),
		zones: map[uint32]string{},
	}
	b.space = sync.NewCond(&b.mu)
	for i := range b.slots {
		b.iovs[i].Base = &b.slots[i].buf[0]
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
		b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.slots[i].sa))
	}
	for i := range b.rhdrs {
		b.riovs[i].Base = &b.rbufs[i][0]
		b.riovs[i].SetLen(readSlotLen)
		b.rhdrs[i].Hdr.Iov = &b.riovs[i]
		b.rhdrs[i].Hdr.SetIovlen(1)
		b.rhdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.rnames[i]))
	}
	b.sendFn = b.sendmmsg
	b.readFn = b.recvmmsg
	return b
}

// WriteToAddrPort queues one datagram, and sends the queue unless someone holds it or sends it.
func (b *batchConn) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	if len(p) > batchSlotLen {
		return b.conn.WriteToUDPAddrPort(p, to)
	}
	b.mu.Lock()
	for !b.closed && b.tail-b.head == uint64(len(b.slots)) {
		if !b.sending { // full during a hold: send it here
			b.sendQueued()
			continue
		}
		b.waiting++
		b.space.Wait()
		b.waiting--
	}
	if b.closed {
		b.mu.Unlock()
		return 0, net.ErrClosed
	}
	i := b.tail % uint64(len(b.slots))
	s := &b.slots[i]
	b.iovs[i].SetLen(copy(s.buf[:], p))
	b.hdrs[i].Hdr.Namelen = s.setAddr(to)
	b.tail++
	// During a hold a Release sends; while someone sends, they take this datagram too.
	if b.holds == 0 && !b.sending {
		b.sendQueued()
	}
	b.mu.Unlock()
	return len(p), nil
}

// Hold defers sending until the matching Release: writes in between are only queued.
func (b *batchConn) Hold() {
	b.mu.Lock()
	b.holds++
	b.mu.Unlock()
}

// Release ends a Hold and sends everything queued, in the calling goroutine, unless someone is
// sending already: they then send these datagrams too. It does not
// wait for other holders: under load holds overlap nearly all the time, and waiting for the last
// one would turn steady fan-outs into rare large bursts.
func (b *batchConn) Release() {
	b.mu.Lock()
	b.holds--
	if b.sending || b.head == b.tail || b.closed { // closed: Close drains
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
	if b.closed { // Close waits for the token to drain the queue
		b.space.Broadcast()
	}
}

// send writes the slots [first, first+n), which belong to the holder of the sending token.
func (b *batchConn) send(first uint64, n int) {
	for n > 0 {
		at := int(first % uint64(len(b.slots)))
		k := min(n, len(b.slots)-at) // a run of slots that does not wrap around the ring
		for off := 0; off < k; {
			b.sendAt, b.sendN = at+off, k-off
			b.sendDone, b.sendErr = 0, 0 // Write may fail (a deadline) without calling sendFn
			err := b.raw.Write(b.sendFn)
			off += b.sendDone
			if err != nil || b.sendErr != 0 {
				// The datagram at off failed (an unreachable destination, a deadline set by the
				// ICE mux while it aborts writes, a closed socket): drop it as the network would.
				off++
			}
		}
		first += uint64(k)
		n -= k
	}
}

// sendmmsg sends hdrs[sendAt : sendAt+sendN]; false (the socket buffer is full) makes the RawConn
// wait until it can write, or until its write deadline.
func (b *batchConn) sendmmsg(fd uintptr) bool {
	for {
		k, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[b.sendAt])),
			uintptr(b.sendN), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		b.sendDone, b.sendErr = 0, e
		if e == 0 {
			b.sendDone = int(k)
		}
		return true
	}
}

// setAddr stores to as a sockaddr and returns its length. IPv4 destinations go as sockaddr_in, which
// a dual-stack socket takes too.
func (s *batchSlot) setAddr(to netip.AddrPort) uint32 {
	a := to.Addr()
	if a.Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.sa))
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], to.Port())
		sa.Addr = a.As4()
		return unix.SizeofSockaddrInet4
	}
	s.sa.Family = unix.AF_INET6
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.sa.Port))[:], to.Port())
	s.sa.Flowinfo = 0
	s.sa.Addr = a.As16()
	s.sa.Scope_id = 0
	if z := a.Zone(); z != "" {
		s.sa.Scope_id = zoneIndex(z)
	}
	return unix.SizeofSockaddrInet6
}

// zoneIndex is the interface index of an IPv6 zone (a link-local destination's), 0 if unknown.
func zoneIndex(zone string) uint32 {
	if n, err := strconv.Atoi(zone); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}

// WriteTo queues one datagram for a *net.UDPAddr.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.InvalidAddrError("not a UDP address")}
	}
	return b.WriteToAddrPort(p, ua.AddrPort())
}

// ReadFromAddrPort returns the next datagram, reading a batch when none is left.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	for b.ri == b.rn {
		b.rn, b.ri = 0, 0
		if err := b.raw.Read(b.readFn); err != nil {
			return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Addr: b.conn.LocalAddr(), Err: err}
		}
		if b.rerr != 0 {
			return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Addr: b.conn.LocalAddr(),
				Err: os.NewSyscallError("recvmmsg", b.rerr)}
		}
	}
	i := b.ri
	b.ri++
	n := copy(p, b.rbufs[i][:min(int(b.rhdrs[i].Len), readSlotLen)])
	return n, b.from(&b.rnames[i]), nil
}

// recvmmsg reads a batch; false (nothing to read) makes the RawConn wait in the poller.
func (b *batchConn) recvmmsg(fd uintptr) bool {
	for i := range b.rhdrs {
		b.rhdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.rhdrs[i].Hdr.Flags = 0
	}
	for {
		k, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rhdrs[0])),
			readBatch, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		b.rerr = e
		if e == 0 {
			b.rn = int(k)
		}
		return true
	}
}

// from decodes a sender's address as net.UDPConn does: an IPv4 one on a dual-stack socket stays
// IPv4-mapped, a link-local IPv6 one gets its zone.
func (b *batchConn) from(sa *unix.RawSockaddrInet6) netip.AddrPort {
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	}
	a := netip.AddrFrom16(sa.Addr)
	if sa.Scope_id != 0 {
		z, ok := b.zones[sa.Scope_id]
		if !ok {
			z = strconv.Itoa(int(sa.Scope_id))
			if ifi, err := net.InterfaceByIndex(int(sa.Scope_id)); err == nil {
				z = ifi.Name
			}
			if len(b.zones) < 64 {
				b.zones[sa.Scope_id] = z
			}
		}
		a = a.WithZone(z)
	}
	return netip.AddrPortFrom(a, port)
}

// ReadFrom reads the next datagram.
func (b *batchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := b.ReadFromAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// Close sends what is queued (giving up on a socket that cannot send for a second), then closes the
// socket. Writers waiting for space and later writes get net.ErrClosed.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return net.ErrClosed
	}
	b.closed = true
	b.space.Broadcast()
	_ = b.conn.SetWriteDeadline(time.Now().Add(time.Second))
	for b.sending {
		b.space.Wait()
	}
	if b.head != b.tail {
		b.sendQueued()
	}
	b.mu.Unlock()
	return b.conn.Close()
}

func (b *batchConn) LocalAddr() net.Addr                { return b.conn.LocalAddr() }
func (b *batchConn) SetDeadline(t time.Time) error      { return b.conn.SetDeadline(t) }
func (b *batchConn) SetReadDeadline(t time.Time) error  { return b.conn.SetReadDeadline(t) }
func (b *batchConn) SetWriteDeadline(t time.Time) error { return b.conn.SetWriteDeadline(t) }
