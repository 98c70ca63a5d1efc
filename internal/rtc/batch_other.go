//go:build !linux

package rtc

import "net"

// newBatchConn: sendmmsg is Linux-only; other systems write packet by packet.
func newBatchConn(c *net.UDPConn) net.PacketConn { return c }
