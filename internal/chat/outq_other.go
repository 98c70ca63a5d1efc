//go:build !linux

package chat

import "syscall"

// socketHasRoom cannot tell on this system: every frame goes through the
// device's writer goroutine.
func socketHasRoom(syscall.RawConn, int) bool { return false }
