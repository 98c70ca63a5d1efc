package rtc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (cli, srv net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cli, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	if srv, err = (tcpDeadlineListener{ln}).Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return cli, srv
}

// An ICE-TCP client that stops reading is cut off: no write to it blocks for much longer than
// tcpWriteTimeout, the one that times out closes the connection, and every later write fails at once.
func TestTCPNonReaderCutOff(t *testing.T) {
	cli, srv := tcpPair(t)
	if err := cli.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 2+1200) // as pion frames a packet: length, then the packet
	binary.BigEndian.PutUint16(frame, 1200)
	var err error
	var slowest time.Duration
	for start := time.Now(); err == nil; {
		if time.Since(start) > 20*time.Second {
			t.Fatal("writes to a client that does not read never failed")
		}
		t0 := time.Now()
		_, err = srv.Write(frame)
		slowest = max(slowest, time.Since(t0))
	}
	if !errors.Is(err, errTCPCutOff) {
		t.Fatalf("write failed with %v", err)
	}
	if slowest > tcpWriteTimeout+time.Second {
		t.Fatalf("a write blocked %v", slowest)
	}
	t0 := time.Now()
	if _, err := srv.Write(frame); !errors.Is(err, errTCPCutOff) || time.Since(t0) > 50*time.Millisecond {
		t.Fatalf("write after the cut-off: %v after %v", err, time.Since(t0))
	}
	// The client sees its connection end.
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, cli)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the connection of the cut-off client stayed open")
	}
}

// A client that reads gets every frame intact.
func TestTCPReaderGetsFrames(t *testing.T) {
	cli, srv := tcpPair(t)
	const n = 2000
	done := make(chan error, 1)
	go func() {
		for i := range n {
			frame := append([]byte{0, 0}, bytes.Repeat([]byte{byte(i)}, 100+i%1000)...)
			binary.BigEndian.PutUint16(frame, uint16(len(frame)-2))
			if _, err := srv.Write(frame); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [2]byte
	buf := make([]byte, 2000)
	for i := range n {
		if _, err := io.ReadFull(cli, hdr[:]); err != nil {
			t.Fatal(err)
		}
		l := int(binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(cli, buf[:l]); err != nil {
			t.Fatal(err)
		}
		if l != 100+i%1000 || !bytes.Equal(buf[:l], bytes.Repeat([]byte{byte(i)}, l)) {
			t.Fatalf("frame %d: %d bytes", i, l)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
