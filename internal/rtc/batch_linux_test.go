package rtc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/ice/v4"
)

// pion's UDP mux takes the allocation-free path only for connections with these methods.
var _ ice.AddrPortReaderWriter = (*batchConn)(nil)

func listenUDP(t testing.TB, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadBuffer(4 << 20)
	c.SetWriteBuffer(4 << 20)
	return c
}

// sink reads datagrams of the form (writer uint32, seq uint32, ...) and checks per-writer order.
type sink struct {
	conn  *net.UDPConn
	mu    sync.Mutex
	next  map[uint32]uint32
	got   int
	bad   error
	ready chan struct{}
}

func newSink(t *testing.T, addr string) *sink {
	s := &sink{conn: listenUDP(t, addr), next: map[uint32]uint32{}, ready: make(chan struct{}, 1)}
	go func() {
		buf := make([]byte, 2000)
		for {
			n, _, err := s.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			w, seq := binary.BigEndian.Uint32(buf), binary.BigEndian.Uint32(buf[4:])
			if seq != s.next[w] && s.bad == nil {
				s.bad = errors.New("out of order or lost")
				t.Errorf("writer %d: got seq %d, want %d (%d bytes)", w, seq, s.next[w], n)
			}
			s.next[w] = seq + 1
			s.got++
			s.mu.Unlock()
			select {
			case s.ready <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { s.conn.Close() })
	return s
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

func (s *sink) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d datagrams", s.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatchOrderAndNoLoss: concurrent writers, bursts far larger than one batch; every datagram
// arrives, in order per writer, with its size and address intact.
func TestBatchOrderAndNoLoss(t *testing.T) {
	for _, tc := range []struct{ local, remote string }{
		{"127.0.0.1:0", "127.0.0.1:0"},
		{"[::]:0", "127.0.0.1:0"}, // dual-stack socket writing to IPv4 (as ":7882" does)
		{"[::1]:0", "[::1]:0"},
	} {
		t.Run(tc.local, func(t *testing.T) {
			raw := listenUDP(t, tc.local)
			bc := newBatchConn(raw).(*batchConn)
			defer bc.Close()
			s := newSink(t, tc.remote)
			to := s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
			const writers, bursts, perBurst = 8, 20, 200 // 1600 datagrams a burst: the ring fills
			var wg sync.WaitGroup
			total := 0
			for b := 0; b < bursts; b++ {
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := make([]byte, 1200)
						for i := 0; i < perBurst; i++ {
							seq := uint32(b*perBurst + i)
							binary.BigEndian.PutUint32(buf, uint32(w))
							binary.BigEndian.PutUint32(buf[4:], seq)
							size := 8 + int(seq%1100) // sizes vary: a slot must not keep an old length
							var err error
							if w%2 == 0 {
								_, err = bc.WriteToAddrPort(buf[:size], to)
							} else {
								_, err = bc.WriteTo(buf[:size], net.UDPAddrFromAddrPort(to))
							}
							if err != nil {
								t.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				total += writers * perBurst
				// The receiver's socket buffer is the limit on loopback, not the wrapper: let it drain.
				s.waitFor(t, total)
			}
			if s.bad != nil {
				t.Fatal(s.bad)
			}
		})
	}
}

// TestBatchRead: one recvmmsg takes what is waiting, and every datagram comes out in order, whole,
// with the source address a plain socket reports (IPv4-mapped on a dual-stack socket).
func TestBatchRead(t *testing.T) {
	for _, tc := range []struct{ local, peer string }{
		{"127.0.0.1:0", "127.0.0.1:0"},
		{"[::]:0", "127.0.0.1:0"},
		{"[::1]:0", "[::1]:0"},
	} {
		t.Run(tc.local, func(t *testing.T) {
			bc := newBatchConn(listenUDP(t, tc.local)).(*batchConn)
			defer bc.Close()
			plain := listenUDP(t, tc.local) // what net.UDPConn says the sender is
			defer plain.Close()
			peer := listenUDP(t, tc.peer)
			defer peer.Close()
			port := func(c net.PacketConn) *net.UDPAddr {
				return &net.UDPAddr{IP: peer.LocalAddr().(*net.UDPAddr).IP, Port: c.LocalAddr().(*net.UDPAddr).Port}
			}
			if _, err := peer.WriteTo([]byte("x"), port(plain)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2000)
			_, want, err := plain.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			const n = 50 // more than one batch
			for i := range n {
				if _, err := peer.WriteTo(bytes.Repeat([]byte{byte(i)}, 1+i*20), port(bc)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				k, from, err := bc.ReadFromAddrPort(buf)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf[:k], bytes.Repeat([]byte{byte(i)}, 1+i*20)) || from != want {
					t.Fatalf("datagram %d: %d bytes from %v, want %d bytes from %v", i, k, from, 1+i*20, want)
				}
				if pending := bc.rn - bc.ri; i == 0 && pending != readBatch-1 {
					t.Fatalf("%d datagrams pending after the first read, want %d: one system call per batch", pending, readBatch-1)
				}
			}
			if _, ok := bc.LocalAddr().(*net.UDPAddr); !ok {
				t.Fatalf("LocalAddr is %T; pion's mux needs *net.UDPAddr", bc.LocalAddr())
			}
		})
	}
}

// TestBatchReadEdges: a short buffer cuts a datagram as a socket does; a read deadline times out;
// Close ends a blocked read with net.ErrClosed; reading allocates nothing.
func TestBatchReadEdges(t *testing.T) {
	bc := newBatchConn(listenUDP(t, "127.0.0.1:0")).(*batchConn)
	peer := listenUDP(t, "127.0.0.1:0")
	defer peer.Close()
	if _, err := peer.WriteTo([]byte("hello, world"), bc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	short := make([]byte, 5)
	if n, _, err := bc.ReadFromAddrPort(short); err != nil || string(short[:n]) != "hello" {
		t.Fatalf("short read: %q, %v", short[:n], err)
	}

	bc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	var ne net.Error
	if _, _, err := bc.ReadFromAddrPort(short); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	bc.SetReadDeadline(time.Time{})

	if !batchRace {
		buf := make([]byte, 100)
		to := bc.LocalAddr().(*net.UDPAddr).AddrPort()
		if a := testing.AllocsPerRun(100, func() {
			peer.WriteToUDPAddrPort(buf[:10], to)
			bc.ReadFromAddrPort(buf)
		}); a != 0 {
			t.Fatalf("%.2f allocations per read", a)
		}
	}

	done := make(chan error, 1)
	go func() { _, _, err := bc.ReadFromAddrPort(short); done <- err }()
	time.Sleep(20 * time.Millisecond)
	bc.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on close: %v, want net.ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not end a blocked read")
	}
}

// TestBatchCloseFlushes: Close sends what is queued, and later writes fail.
func TestBatchCloseFlushes(t *testing.T) {
	s := newSink(t, "127.0.0.1:0")
	to := s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	bc := newBatchConn(listenUDP(t, "127.0.0.1:0")).(*batchConn)
	buf := make([]byte, 100)
	bc.Hold() // never released: only Close sends
	for i := 0; i < 500; i++ {
		binary.BigEndian.PutUint32(buf[4:], uint32(i))
		if _, err := bc.WriteToAddrPort(buf, to); err != nil {
			t.Fatal(err)
		}
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, 500)
	if _, err := bc.WriteToAddrPort(buf, to); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v, want net.ErrClosed", err)
	}
	if _, _, err := bc.ReadFromAddrPort(buf); err == nil {
		t.Fatal("read after Close succeeded")
	}
	if err := bc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// TestBatchCloseUnblocksWriters: writers blocked on a full ring return when the conn closes, and
// Close waits for the sender before it closes the socket.
func TestBatchCloseUnblocksWriters(t *testing.T) {
	bc := newBatchConn(listenUDP(t, "127.0.0.1:0")).(*batchConn)
	// Make the ring look full while someone sends, as if the socket could not take anything.
	bc.mu.Lock()
	bc.tail = bc.head + uint64(len(bc.slots))
	bc.sending = true
	bc.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		_, err := bc.WriteToAddrPort([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9"))
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("a write into a full ring returned at once: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	closed := make(chan error, 1)
	go func() { closed <- bc.Close() }()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked write returned %v, want net.ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a writer stayed blocked after Close")
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a sender was still sending", err)
	case <-time.After(50 * time.Millisecond):
	}
	bc.mu.Lock() // the sender is done
	bc.head = bc.tail
	bc.sending = false
	bc.space.Broadcast()
	bc.mu.Unlock()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not return after the sender finished")
	}
}

func TestBatchWriteDoesNotAllocate(t *testing.T) {
	if batchRace {
		t.Skip("the race detector allocates")
	}
	bc := newBatchConn(listenUDP(t, "127.0.0.1:0")).(*batchConn)
	defer bc.Close()
	sinkConn := listenUDP(t, "127.0.0.1:0")
	defer sinkConn.Close()
	to := sinkConn.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 1200)
	if a := testing.AllocsPerRun(1000, func() { bc.WriteToAddrPort(buf, to) }); a != 0 {
		t.Fatalf("%.2f allocations per write", a)
	}
}

// BenchmarkSend compares one sendto per datagram with the batched conn, from 4 writing goroutines
// (the SFU's read loops), 1200-byte datagrams to 16 loopback destinations.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// drain waits until everything queued has been sent.
func (b *batchConn) drain() {
	for {
		b.mu.Lock()
		empty := b.head == b.tail
		b.mu.Unlock()
		if empty {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

type udpWriter struct{ *net.UDPConn }

func (u udpWriter) WriteToAddrPort(p []byte, a netip.AddrPort) (int, error) {
	return u.WriteToUDPAddrPort(p, a)
}

func BenchmarkSend(b *testing.B) {
	var dests []netip.AddrPort
	for range 16 {
		c := listenUDP(b, "127.0.0.1:0")
		defer c.Close()
		dests = append(dests, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	type writer interface {
		WriteToAddrPort([]byte, netip.AddrPort) (int, error)
	}
	run := func(b *testing.B, w writer) {
		b.SetBytes(1200)
		b.ReportAllocs()
		b.SetParallelism(2)
		cpu0 := processCPU()
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, 1200)
			i := 0
			for pb.Next() {
				w.WriteToAddrPort(buf, dests[i%len(dests)])
				i++
			}
		})
		if bc, ok := w.(*batchConn); ok {
			bc.drain()
		}
		// Wall time per op hides the sending goroutine's CPU: report the process's CPU per datagram too.
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.Run("sendto", func(b *testing.B) {
		c := listenUDP(b, "127.0.0.1:0")
		defer c.Close()
		run(b, udpWriter{c})
	})
	b.Run("sendmmsg", func(b *testing.B) {
		bc := newBatchConn(listenUDP(b, "127.0.0.1:0")).(*batchConn)
		defer bc.Close()
		run(b, bc)
	})
}

// TestBatchHoldRelease: during a hold nothing is sent, not even datagrams of writers that do not
// hold; Release sends everything queued, in the releasing goroutine, without waiting for other
// holders.
func TestBatchHoldRelease(t *testing.T) {
	bc := newBatchConn(listenUDP(t, "127.0.0.1:0")).(*batchConn)
	defer bc.Close()
	s := newSink(t, "127.0.0.1:0")
	to := s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 100)
	write := func(seq uint32) {
		binary.BigEndian.PutUint32(buf, 1)
		binary.BigEndian.PutUint32(buf[4:], seq)
		if _, err := bc.WriteToAddrPort(buf, to); err != nil {
			t.Fatal(err)
		}
	}
	bc.Hold()
	bc.Hold() // two read loops fanning out at once
	for i := range 10 {
		write(uint32(i))
	}
	time.Sleep(50 * time.Millisecond)
	if n := s.count(); n != 0 {
		t.Fatalf("%d datagrams sent during a hold", n)
	}
	bc.Release()
	bc.mu.Lock()
	queued := bc.tail - bc.head
	bc.mu.Unlock()
	if queued != 0 {
		t.Fatalf("%d datagrams still queued after Release", queued)
	}
	s.waitFor(t, 10)
	write(10) // the other holder's: queued until its Release
	time.Sleep(50 * time.Millisecond)
	if n := s.count(); n != 10 {
		t.Fatalf("%d datagrams sent, want 10 (one hold is still on)", n)
	}
	bc.Release()
	s.waitFor(t, 11)
	// Without a hold, a write goes out at once, in the writer's goroutine.
	write(11)
	s.waitFor(t, 12)
}

// TestBatchHoldConcurrent: holders and plain writers at once, bursts that fill the ring during
// holds; every datagram arrives in order per writer.
func TestBatchHoldConcurrent(t *testing.T) {
	bc := newBatchConn(listenUDP(t, "127.0.0.1:0")).(*batchConn)
	defer bc.Close()
	s := newSink(t, "127.0.0.1:0")
	to := s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	const writers, rounds, perHold = 6, 50, 40 // 6 x 40 x ... : the 1024-slot ring fills in holds
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 600)
			seq := uint32(0)
			for range rounds {
				hold := w%3 != 0 // some writers are like RTCP: they never hold
				if hold {
					bc.Hold()
				}
				for range perHold {
					binary.BigEndian.PutUint32(buf, uint32(w))
					binary.BigEndian.PutUint32(buf[4:], seq)
					seq++
					if _, err := bc.WriteToAddrPort(buf, to); err != nil {
						t.Error(err)
						break
					}
				}
				if hold {
					bc.Release()
				}
			}
		}()
	}
	wg.Wait()
	s.waitFor(t, writers*rounds*perHold)
	if s.bad != nil {
		t.Fatal(s.bad)
	}
}
