package peer

import "testing"

func TestOfferedTelephoneEvent(t *testing.T) {
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 110 126\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n"
	pt, ok := offeredTelephoneEvent(offer)
	if !ok || pt != 126 {
		t.Fatalf("got %d, %v; want 126", pt, ok)
	}
	if _, ok := offeredTelephoneEvent("v=0\r\n"); ok {
		t.Fatal("found one in an offer without audio")
	}
}

// FuzzOfferedTelephoneEvent: a client's offer never makes it panic, and a
// payload type it returns is a valid one.
func FuzzOfferedTelephoneEvent(f *testing.F) {
	f.Add("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 126\r\na=rtpmap:126 telephone-event/8000/1\r\n")
	f.Add("v=0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:999 telephone-event/8000\r\na=rtpmap: \r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		pt, ok := offeredTelephoneEvent(sdp)
		if ok && pt > 127 {
			t.Fatalf("payload type %d", pt)
		}
	})
}
