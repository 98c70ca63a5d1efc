package sip

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
)

// sippOffer is the SDP sipp's uac_pcap scenario sends.
const sippOffer = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n"

func TestParseSDP(t *testing.T) {
	d, err := ParseSDP([]byte(sippOffer))
	if err != nil {
		t.Fatal(err)
	}
	if d.Addr != netip.MustParseAddrPort("127.0.0.1:6000") || len(d.Codecs) != 1 || d.Codecs[0] != PCMA ||
		!d.HasDTMF || d.DTMF != 101 || d.Direction != SendRecv {
		t.Fatalf("parsed %+v", d)
	}
	c, err := Negotiate(d, DefaultCodecs)
	if err != nil || c != PCMA {
		t.Fatalf("negotiated %+v, %v", c, err)
	}

	// Static payload types without rtpmap, a dynamic G.722, hold, media-level c=.
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=sendrecv\r\n" +
		"m=audio 7000 RTP/AVP 0 96 8 97\r\nc=IN IP4 127.0.0.2\r\na=rtpmap:96 G722/8000\r\na=rtpmap:97 telephone-event/8000\r\na=sendonly\r\n"
	d, err = ParseSDP([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	if d.Addr.Addr() != netip.MustParseAddr("127.0.0.2") || len(d.Codecs) != 3 || d.Codecs[1].Name != "G722" ||
		d.Codecs[1].PayloadType != 96 || d.DTMF != 97 || d.Direction != SendOnly {
		t.Fatalf("parsed %+v", d)
	}
	if c, _ := Negotiate(d, DefaultCodecs); c.Name != "G722" || c.PayloadType != 96 {
		t.Fatalf("negotiated %+v", c)
	}
	if AnswerDirection(d.Direction) != RecvOnly {
		t.Fatal("answer to sendonly")
	}

	// Refusals.
	if _, err := ParseSDP([]byte(strings.Replace(sippOffer, "RTP/AVP", "RTP/SAVP", 1))); err != ErrSecureMedia {
		t.Fatalf("SRTP offer: %v", err)
	}
	if _, err := ParseSDP([]byte(strings.Replace(sippOffer, "m=audio", "m=video", 1))); err != ErrNoAudio {
		t.Fatalf("video only: %v", err)
	}
	d, _ = ParseSDP([]byte(strings.Replace(sippOffer, "RTP/AVP 8 101", "RTP/AVP 18 101", 1)))
	if _, err := Negotiate(d, DefaultCodecs); err != ErrNoCommonCodec {
		t.Fatalf("G.729 only: %v", err)
	}

	// Our answer reads back as what we meant.
	ans := SessionSDP(netip.MustParseAddrPort("203.0.113.5:40000"), 7, 1, []Codec{PCMA}, 101, RecvOnly)
	back, err := ParseSDP(ans)
	if err != nil || back.Addr != netip.MustParseAddrPort("203.0.113.5:40000") || len(back.Codecs) != 1 ||
		back.Codecs[0] != PCMA || back.DTMF != 101 || back.Direction != RecvOnly {
		t.Fatalf("answer %s parsed as %+v, %v", ans, back, err)
	}
}

func FuzzSDP(f *testing.F) {
	f.Add([]byte(sippOffer))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0 127 128\r\na=rtpmap:127 telephone-event/8000\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n" +
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH|2^31\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseSDP(body)
		if err != nil {
			return
		}
		c, err := Negotiate(d, DefaultCodecs)
		if err != nil {
			return
		}
		dtmf := -1
		if d.HasDTMF {
			dtmf = int(d.DTMF)
		}
		ans := SessionSDP(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 4000), 1, 1, []Codec{c}, dtmf, AnswerDirection(d.Direction))
		back, err := ParseSDP(ans)
		if err != nil || len(back.Codecs) != 1 || back.Codecs[0] != c {
			t.Fatalf("our answer %q reads back as %+v, %v", ans, back, err)
		}
	})
}

func TestDTMFDetector(t *testing.T) {
	ev := func(e byte, end bool, dur uint16) []byte {
		b := []byte{e, 10, byte(dur >> 8), byte(dur)}
		if end {
			b[1] |= 0x80
		}
		return b
	}
	var d dtmfDetector
	var got []string
	feed := func(ts uint32, p []byte) {
		for _, e := range d.feed(ts, p) {
			got = append(got, string(e.Digit)+":"+strconv.Itoa(int(e.Duration)))
		}
	}
	// "1": three updates, then the end packet three times.
	feed(1000, ev(1, false, 160))
	feed(1000, ev(1, false, 320))
	feed(1000, ev(1, true, 800))
	feed(1000, ev(1, true, 800))
	feed(1000, ev(1, true, 800))
	// "#" whose end packets are all lost; "5" follows.
	feed(5000, ev(11, false, 160))
	feed(5000, ev(11, false, 480))
	feed(9000, ev(5, false, 160))
	feed(9000, ev(5, true, 640))
	// The same digit twice in a row is two presses (new timestamp), marker or not.
	feed(12000, ev(5, true, 400))
	// Garbage.
	feed(13000, []byte{200, 0, 0, 1})
	feed(13000, []byte{1})
	if want := []string{"1:800", "#:480", "5:640", "5:400"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func FuzzTelephoneEvent(f *testing.F) {
	f.Add(uint32(0), []byte{1, 0x8a, 3, 32})
	f.Add(uint32(5), []byte{})
	f.Fuzz(func(t *testing.T, ts uint32, payload []byte) {
		var d dtmfDetector
		for range 3 {
			for _, e := range d.feed(ts, payload) {
				if !strings.ContainsRune(dtmfDigits, rune(e.Digit)) {
					t.Fatalf("digit %q", e.Digit)
				}
			}
		}
	})
}

func udpSocket(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sendRTP(t *testing.T, c *net.UDPConn, to netip.AddrPort, seq uint16, pt uint8) {
	t.Helper()
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, SSRC: 1}, Payload: []byte{1, 2}}).Marshal()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSymmetricRTP(t *testing.T) {
	s, err := ListenRTP("127.0.0.1:0", netip.MustParseAddr("203.0.113.9"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if a := s.LocalAddr(); a.Addr() != netip.MustParseAddr("203.0.113.9") || a.Port() == 0 {
		t.Fatalf("external address in SDP: %v", a)
	}
	local := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.LocalAddr().Port())
	// The SDP names a private address nobody can reach (it is never sent to:
	// nothing is written before the real source is learned).
	s.SetRemote(netip.MustParseAddrPort("192.0.2.10:4000"), 8, 101)
	s.Start(nil)

	phone := udpSocket(t)
	stranger := udpSocket(t)
	// Wrong payload type: dropped whoever sends it.
	sendRTP(t, phone, local, 1, 0)
	// Two in sequence are not enough for a source the SDP did not name...
	sendRTP(t, phone, local, 10, 8)
	sendRTP(t, phone, local, 11, 8)
	waitFor(t, "drops", func() bool { return s.Dropped.Load() == 3 })
	if _, learned := s.Peer(); learned {
		t.Fatal("learned after two packets")
	}
	// ...the third is, and from then on we answer the phone where it is.
	sendRTP(t, phone, local, 12, 8)
	waitFor(t, "learning", func() bool { _, l := s.Peer(); return l })
	if p, _ := s.Peer(); p != phone.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("learned %v", p)
	}
	// Someone else is ignored, even in sequence.
	for i := range 5 {
		sendRTP(t, stranger, local, uint16(100+i), 8)
	}
	waitFor(t, "stranger dropped", func() bool { return s.Dropped.Load() == 8 })
	if err := s.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: 1}, Payload: []byte{0xd5}}); err != nil {
		t.Fatal(err)
	}
	phone.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1500)
	n, err := phone.Read(buf)
	var p rtp.Packet
	if err != nil || p.Unmarshal(buf[:n]) != nil || p.PayloadType != 8 {
		t.Fatalf("phone got %d bytes, %v", n, err)
	}

	// A re-INVITE naming the phone's IP: its packets are taken at once.
	s.SetRemote(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 9), 8)
	sendRTP(t, stranger, local, 500, 8)
	waitFor(t, "learning by IP", func() bool { _, l := s.Peer(); return l })
	if p, _ := s.Peer(); p != stranger.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("learned %v", p)
	}
}

// TestSippMediaCall answers sipp's call (INVITE with PCMA and
// telephone-event, RTP from a pcap, RFC 2833 DTMF "1", BYE) with the media
// building blocks, in a small test-only UAS: the server does not route calls
// yet.
func TestSippMediaCall(t *testing.T) {
	bin := sippBinary(t)
	const pcaps = "/usr/share/sip-tester"
	if _, err := os.Stat(filepath.Join(pcaps, "g711a.pcap")); err != nil {
		t.Skip("sipp's pcap files are not installed")
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		sess   *RTPSession
		digits []byte
		codec  Codec
		byed   = make(chan struct{}, 1)
	)
	defer func() {
		if sess != nil {
			sess.Close()
		}
	}()
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		offer, err := ParseSDP(req.Body())
		if err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		c, err := Negotiate(offer, DefaultCodecs)
		if err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		s, err := ListenRTP("127.0.0.1:0", netip.Addr{})
		if err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
			return
		}
		s.SetRemote(offer.Addr, c.PayloadType, offer.DTMF)
		var det dtmfDetector
		s.Start(func(p *rtp.Packet) {
			if p.PayloadType == offer.DTMF {
				for _, e := range det.feed(p.Timestamp, p.Payload) {
					mu.Lock()
					digits = append(digits, e.Digit)
					mu.Unlock()
				}
				return
			}
			// Echo the audio: proves the way back to the learned address.
			s.WriteRTP(p)
		})
		mu.Lock()
		sess, codec = s, c
		mu.Unlock()
		ans := SessionSDP(s.LocalAddr(), 1, 1, []Codec{c}, int(offer.DTMF), AnswerDirection(offer.Direction))
		res := sip.NewResponseFromRequest(req, 200, "OK", ans)
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sip.NewHeader("Contact", "<sip:test@"+req.Destination()+">"))
		tx.Respond(res)
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		byed <- struct{}{}
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeUDP(pc)

	dir := t.TempDir()
	if err := os.Symlink(pcaps, filepath.Join(dir, "pcap")); err != nil {
		t.Fatal(err)
	}
	scen, _ := filepath.Abs(filepath.Join("testdata", "uac_pcap_short.xml"))
	cmd := exec.CommandContext(t.Context(), bin, pc.LocalAddr().String(), "-sf", scen, "-s", "echo",
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "udp")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-m", "1", "-nostdin", "-timeout", "15s", "-timeout_error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sipp call failed: %v\n%s", err, out)
	}
	select {
	case <-byed:
	case <-time.After(3 * time.Second):
		t.Fatal("no BYE")
	}
	mu.Lock()
	defer mu.Unlock()
	if sess == nil {
		t.Fatal("no call")
	}
	peer, learned := sess.Peer()
	t.Logf("codec %s, RTP in %d, out %d, dropped %d, peer %v (learned %v), DTMF %q",
		codec.Name, sess.PacketsIn.Load(), sess.PacketsOut.Load(), sess.Dropped.Load(), peer, learned, digits)
	if codec != PCMA || sess.PacketsIn.Load() < 50 || sess.PacketsOut.Load() < 40 || !learned {
		t.Fatal("media did not flow both ways")
	}
	if string(digits) != "1" {
		t.Fatalf("DTMF %q, want \"1\"", digits)
	}
}
