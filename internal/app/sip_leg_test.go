package app

import "testing"

// Our transfer of a phone (REFER from the browser's call.transfer) and the
// phone's own transfer exclude each other: while one is under way the
// other is refused, and once it is over the next may start.
func TestPhoneSideOneTransferAtATime(t *testing.T) {
	s := &phoneSide{}
	if !s.startReferring() {
		t.Fatal("a first transfer was refused")
	}
	if s.startReferring() {
		t.Fatal("a second transfer of ours started while the first was under way")
	}
	s.doneReferring()
	s.transfer = &phoneTransfer{} // the phone's own REFER is under way
	if s.startReferring() {
		t.Fatal("our transfer started while the phone's was under way")
	}
	s.transfer = nil
	if !s.startReferring() {
		t.Fatal("a transfer was refused after the others ended")
	}
}
