package chat

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// socketHasRoom reports whether n more bytes fit in the socket's send buffer
// with a wide margin, so that writing them cannot block: the bytes the kernel
// holds (unsent and unacknowledged) plus n stay under a quarter of the
// buffer (the kernel also counts its own overhead per packet). A peer that
// stops reading or acknowledging soon fails this, and its frames go through
// the device's queue, which disconnects it when full.
func socketHasRoom(rc syscall.RawConn, n int) bool {
	held, size := -1, 0
	var err1, err2 error
	if err := rc.Control(func(fd uintptr) {
		held, err1 = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		size, err2 = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	}); err != nil || err1 != nil || err2 != nil {
		return false
	}
	return held >= 0 && held+n <= size/4
}
