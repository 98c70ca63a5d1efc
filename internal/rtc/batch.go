package rtc

import "net"

// mediaConn is the connection the ICE UDP mux reads and writes the media socket through. On Linux,
// writes are queued and sent in batches with sendmmsg (see batch_linux.go); elsewhere, or with
// batching turned off, it is the socket itself.
func mediaConn(c *net.UDPConn, batch bool) net.PacketConn {
	if !batch {
		return c
	}
	return newBatchConn(c)
}
