package rtc

import (
	"net"
	"os"
	"strings"
)

// BatchEnv turns batched media writes off when set to "off", "0" or "false": a diagnostic switch
// (read once, when the engine opens its socket) for measuring what batching brings.
const BatchEnv = "SWITCHBOARD_UDP_BATCH"

// mediaConn is the connection the ICE UDP mux reads and writes the media socket through. On Linux,
// writes are queued and sent in batches with sendmmsg (see batch_linux.go); elsewhere, or with
// batching turned off, it is the socket itself.
func mediaConn(c *net.UDPConn) net.PacketConn {
	switch strings.ToLower(os.Getenv(BatchEnv)) {
	case "off", "0", "false", "no":
		return c
	}
	return newBatchConn(c)
}
