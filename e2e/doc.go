// Package e2e holds end-to-end tests that drive real headless Chromium browsers (through chromedp)
// against a Switchboard server started in-process on loopback.
//
// The tests need /usr/bin/chromium (Debian package `chromium`; override the path with
// E2E_CHROMIUM). Without it they skip, unless CI is set, in which case they fail. `go test -short`
// skips them. Set E2E_SCREENSHOTS=1 to save /tmp/e2e-room.png (a room with three participants), and
// E2E_DEBUG=1 to print server logs, browser consoles and step timings even when tests pass
// (E2E_SERVER_DEBUG=1 sets the server's log level to debug). E2E_TIMEOUT_SCALE=3 stretches every
// deadline on a machine busy with other work; E2E_NO_NETNS=1 skips the NAT test.
//
// ./scripts/test.sh installs what is missing and runs everything.
package e2e
