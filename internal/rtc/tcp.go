package rtc

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// tcpWriteTimeout bounds one write to an ICE-TCP connection. pion writes each packet to its ICE-TCP
// connection with a blocking conn.Write and no deadline (ice's writeStreamingPacket: a 2-byte length
// and the packet, in one Write), and some of those writes run in the media socket's one read
// goroutine, which forwards publishers' packets to every subscriber: a subscriber that stops reading
// must not stall everyone else's media and ICE, and neither may one that reads too slowly. So the
// connection gets a large send buffer (tcpSendBuffer: seconds of video), a write blocks only when
// the peer is that far behind, and then for at most tcpWriteTimeout before the peer is cut off.
const (
	tcpWriteTimeout = 20 * time.Millisecond
	tcpSendBuffer   = 4 << 20
)

// errTCPCutOff is returned by every write to an ICE-TCP connection after one timed out.
var errTCPCutOff = errors.New("ice-tcp: peer not reading, connection closed")

// tcpDeadlineListener hands out ICE-TCP connections whose writes time out (see tcpWriteTimeout).
type tcpDeadlineListener struct{ net.Listener }

func (l tcpDeadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(tcpSendBuffer)
	}
	return &tcpDeadlineConn{Conn: c}, nil
}

// tcpDeadlineConn is an accepted ICE-TCP connection. A write that times out may have sent part of a
// frame, which breaks the stream's framing, so the connection is closed and every later write fails
// at once: the peer is cut off (ICE then fails or moves to another pair) instead of stalling writers.
type tcpDeadlineConn struct {
	net.Conn
	dead atomic.Bool
}

func (c *tcpDeadlineConn) Write(p []byte) (int, error) {
	if c.dead.Load() {
		return 0, errTCPCutOff
	}
	if err := c.Conn.SetWriteDeadline(time.Now().Add(tcpWriteTimeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.dead.Store(true)
			if tc, ok := c.Conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // reset: drop what the peer did not read instead of flushing it
			}
			c.Conn.Close()
			return n, errTCPCutOff
		}
	}
	return n, err
}
