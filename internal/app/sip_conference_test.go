//go:build libopus

package app

import (
	"context"
	"io"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"switchboard/internal/audio"
	"switchboard/internal/client"
	"switchboard/internal/config"
	"switchboard/internal/protocol"
	sbsip "switchboard/internal/sip"
)

// toneAmp is the amplitude (0..1 of full scale) of the freq component of pcm.
func toneAmp(pcm []int16, freq float64, rate int) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var s, c float64
	for i, v := range pcm {
		x := float64(v) / 32768
		ph := 2 * math.Pi * freq * float64(i) / float64(rate)
		s += x * math.Sin(ph)
		c += x * math.Cos(ph)
	}
	return 2 * math.Sqrt(s*s+c*c) / float64(len(pcm))
}

// talker is a meeting participant (pion, through the meetings protocol)
// that publishes a tone as Opus and decodes what it hears, by publisher.
type talker struct {
	c    *client.Client
	mu   sync.Mutex
	pcm  map[string][]int16 // by stream id (the publisher's participant id)
	stop chan struct{}
	wg   sync.WaitGroup
}

func newTalker(ctx context.Context, t *testing.T, a *App, roomID, name string, freq float64) *talker {
	t.Helper()
	return newTalkerJoin(ctx, t, a, protocol.Join{Room: roomID, Name: name}, freq)
}

// newTalkerJoin is newTalker joining with join (a token, say).
func newTalkerJoin(ctx context.Context, t *testing.T, a *App, join protocol.Join, freq float64) *talker {
	t.Helper()
	name := firstNonEmpty(join.Name, "talker")
	tk := &talker{pcm: map[string][]int16{}, stop: make(chan struct{})}
	c, err := client.Dial(ctx, a.URL(), newAPI(t), join,
		func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			if tr.Kind() != webrtc.RTPCodecTypeAudio {
				return
			}
			dec, err := audio.NewOpusDecoder(audio.Rate)
			if err != nil {
				t.Error(err)
				return
			}
			go func() {
				for {
					p, _, err := tr.ReadRTP()
					if err != nil {
						return
					}
					tk.mu.Lock()
					if pcm, err := dec.Decode(p.Payload, tk.pcm[tr.StreamID()]); err == nil {
						tk.pcm[tr.StreamID()] = pcm
					}
					tk.mu.Unlock()
				}
			}()
		})
	if err != nil {
		t.Fatal(err)
	}
	tk.c = c
	mic, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		"mic", name)
	if err := c.Publish(ctx, map[webrtc.TrackLocal]string{mic: "microphone"}); err != nil {
		t.Fatal(err)
	}
	enc, err := audio.NewOpusEncoder(audio.Rate)
	if err != nil {
		t.Fatal(err)
	}
	tk.wg.Go(func() {
		tick := time.NewTicker(audio.Frame)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-tk.stop:
				return
			case <-tick.C:
			}
			pkt, _ := enc.Encode(nil, audio.Tone(nil, freq, audio.Rate, i*audio.FrameSamples, audio.FrameSamples, 0.3))
			mic.WriteSample(media.Sample{Data: pkt, Duration: audio.Frame})
		}
	})
	t.Cleanup(tk.close)
	return tk
}

func (tk *talker) close() {
	select {
	case <-tk.stop:
		return
	default:
	}
	close(tk.stop)
	tk.wg.Wait()
	tk.c.Close()
}

// heardPhone is what the talker decoded from the phone's track.
func (tk *talker) heardPhone() []int16 {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	for id, pcm := range tk.pcm {
		if strings.HasPrefix(id, "sip_") {
			return append([]int16(nil), pcm...)
		}
	}
	return nil
}

// rtpPhone is the media end of a SIP phone: it sends a tone as PCMU and
// keys as RFC 4733 events, and decodes what it receives.
type rtpPhone struct {
	conn   *net.UDPConn
	to     netip.AddrPort
	mu     sync.Mutex
	pcm    []int16
	seq    uint16
	ts     uint32
	stop   chan struct{}
	wg     sync.WaitGroup
	sendMu sync.Mutex
}

func newRTPPhone(t *testing.T) *rtpPhone {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ph := &rtpPhone{conn: conn, stop: make(chan struct{})}
	ph.wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) == nil && p.PayloadType == 0 {
				ph.mu.Lock()
				ph.pcm = audio.DecodeG711(audio.ULaw, ph.pcm, p.Payload)
				ph.mu.Unlock()
			}
		}
	})
	t.Cleanup(func() {
		select {
		case <-ph.stop:
		default:
			close(ph.stop)
		}
		conn.Close()
		ph.wg.Wait()
	})
	return ph
}

func (ph *rtpPhone) port() int { return ph.conn.LocalAddr().(*net.UDPAddr).Port }

func (ph *rtpPhone) write(pt uint8, ts uint32, payload []byte) {
	ph.sendMu.Lock()
	defer ph.sendMu.Unlock()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: ph.seq, Timestamp: ts, SSRC: 0x5151}, Payload: payload}
	ph.seq++
	raw, _ := p.Marshal()
	ph.conn.WriteToUDPAddrPort(raw, ph.to)
}

// talk sends a tone every 20 ms until the test ends.
func (ph *rtpPhone) talk(freq float64) {
	ph.wg.Go(func() {
		tick := time.NewTicker(audio.Frame)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ph.stop:
				return
			case <-tick.C:
			}
			pcm := audio.Tone(nil, freq, audio.PhoneRate, i*audio.PhoneFrameSamples, audio.PhoneFrameSamples, 0.3)
			ph.write(0, uint32(i*audio.PhoneFrameSamples), audio.EncodeG711(audio.ULaw, nil, pcm))
		}
	})
}

// keys sends each key as an RFC 4733 event (its own timestamp, three end
// packets), one every 100 ms.
func (ph *rtpPhone) keys(s string) {
	for _, k := range s {
		var ev byte
		switch {
		case k >= '0' && k <= '9':
			ev = byte(k - '0')
		case k == '*':
			ev = 10
		case k == '#':
			ev = 11
		}
		ph.ts += 8000
		for range 3 {
			ph.write(101, 1<<30+ph.ts, []byte{ev, 0x80 | 10, 0x03, 0x20})
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (ph *rtpPhone) heard() []int16 {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	return append([]int16(nil), ph.pcm...)
}

// dialConference calls the conference extension from SIP account 100 and
// acknowledges the answer; it returns the server's RTP address and a
// channel that gets the server's BYE.
func dialConference(ctx context.Context, t *testing.T, a *App, ph *rtpPhone) (netip.AddrPort, <-chan struct{}) {
	t.Helper()
	ua, _ := sipgo.NewUA()
	t.Cleanup(func() { ua.Close() })
	phoneClient, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	phoneServer, _ := sipgo.NewServer(ua)
	byes := make(chan struct{}, 1)
	phoneServer.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		byes <- struct{}{}
	})
	srvAddr := a.SIPAddrs().UDP.(*net.UDPAddr)
	invite := phoneInvite(srvAddr.Port, "Desk 100",
		"m=audio "+strconv.Itoa(ph.port())+" RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
	invite.Recipient.User = "meet"
	res := <-callFromPhone(ctx, t, phoneClient, invite)
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("the conference extension answered %v", res)
	}
	answer, err := sbsip.ParseSDP(res.Body())
	if err != nil {
		t.Fatal(err)
	}
	target := invite.Recipient
	if c := res.Contact(); c != nil {
		target = c.Address
	}
	ack := sip.NewRequest(sip.ACK, target)
	ack.AppendHeader(invite.From())
	ack.AppendHeader(res.To())
	ack.AppendHeader(res.CallID())
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetDestination(srvAddr.String())
	if err := phoneClient.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	ph.to = answer.Addr
	return answer.Addr, byes
}

func conferenceScene(t *testing.T) *App {
	a := startSIPServer(t, nil)
	root := admin(t, a, "root")
	member(t, a, "alice")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"100","password":"alice desk phone","userId":"alice"}`)
	return a
}

// TestSIPDialInToMeeting: a phone calls the conference extension, hears
// the prompt, keys a wrong PIN (error tone), then the meeting's PIN, and
// is in a meeting with two Opus talkers: it hears both and not itself, and
// both hear it.
func TestSIPDialInToMeeting(t *testing.T) {
	a := conferenceScene(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ann := newTalker(ctx, t, a, "dialintest", "Ann", 500)
	bob := newTalker(ctx, t, a, "dialintest", "Bob", 1300)
	pin := ann.c.Joined.Room.PIN
	if len(pin) != 9 || ann.c.Joined.Room.DialIn != "meet" {
		t.Fatalf("the meeting shows dial-in %q PIN %q", ann.c.Joined.Room.DialIn, pin)
	}

	ph := newRTPPhone(t)
	dialConference(ctx, t, a, ph)
	ph.talk(700)
	time.Sleep(500 * time.Millisecond)
	if amp := toneAmp(ph.heard(), 660, audio.PhoneRate); amp < 0.02 {
		t.Fatalf("no prompt tone (660 Hz at %.3f)", amp)
	}
	wrong := "000000000"
	if wrong == pin {
		wrong = "111111111"
	}
	ph.keys(wrong + "#")
	time.Sleep(400 * time.Millisecond)
	heard := ph.heard()
	if amp := toneAmp(heard[len(heard)-2400:], 400, audio.PhoneRate); amp < 0.02 {
		t.Fatalf("no error tone after a wrong PIN (400 Hz at %.3f)", amp)
	}
	time.Sleep(600 * time.Millisecond) // the error tone ends, the prompt repeats
	ph.keys(pin + "#")

	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(500 * time.Millisecond)
		heard = ph.heard()
		last := heard[len(heard)-audio.PhoneRate:]
		a5, a13, own := toneAmp(last, 500, audio.PhoneRate), toneAmp(last, 1300, audio.PhoneRate), toneAmp(last, 700, audio.PhoneRate)
		annHeard, bobHeard := ann.heardPhone(), bob.heardPhone()
		var annAmp, bobAmp float64
		if len(annHeard) > audio.Rate/2 && len(bobHeard) > audio.Rate/2 {
			annAmp = toneAmp(annHeard[len(annHeard)-audio.Rate/2:], 700, audio.Rate)
			bobAmp = toneAmp(bobHeard[len(bobHeard)-audio.Rate/2:], 700, audio.Rate)
		}
		if a5 > 0.1 && a13 > 0.1 && own < 0.01 && annAmp > 0.1 && bobAmp > 0.1 {
			t.Logf("the phone hears ann %.3f, bob %.3f, itself %.4f; ann hears the phone %.3f, bob %.3f", a5, a13, own, annAmp, bobAmp)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the phone hears ann %.3f, bob %.3f, itself %.4f; ann hears the phone %.3f, bob %.3f", a5, a13, own, annAmp, bobAmp)
		}
	}
	m := conferenceMetrics(t, a)
	if !strings.Contains(m, "switchboard_sip_transcoding_sessions 1") ||
		!strings.Contains(m, "switchboard_sip_conference_voiced_frames_to_phone_total") {
		t.Errorf("metrics lack the conference: %s", m)
	}
}

// conferenceMetrics returns the metrics page.
func conferenceMetrics(t *testing.T, a *App) string {
	t.Helper()
	resp := send(t, "GET", a.URL()+"/metrics", nil, "")
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// TestSIPDialInWrongPINs: three wrong PINs and the call is hung up.
func TestSIPDialInWrongPINs(t *testing.T) {
	a := conferenceScene(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph := newRTPPhone(t)
	_, byes := dialConference(ctx, t, a, ph)
	for range 3 {
		ph.keys("12#")
		time.Sleep(1200 * time.Millisecond) // the error tone
	}
	select {
	case <-byes:
	case <-time.After(5 * time.Second):
		t.Fatal("no BYE after three wrong PINs")
	}
}

// TestSIPDialInBlockedAfterWrongPINs: a caller that got the PIN wrong too
// often lately is refused before the prompt.
func TestSIPDialInBlockedAfterWrongPINs(t *testing.T) {
	a := conferenceScene(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range pinFailLimit {
		a.phones.pins.failed("account:100")
	}
	ua, _ := sipgo.NewUA()
	defer ua.Close()
	phone, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	invite := phoneInvite(a.SIPAddrs().UDP.(*net.UDPAddr).Port, "Desk 100",
		"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
	invite.Recipient.User = "meet"
	if res := <-callFromPhone(ctx, t, phone, invite); res == nil || res.StatusCode != 403 {
		t.Fatalf("a caller with too many wrong PINs got %v, want 403", res)
	}
}

// TestSIPMeetingDialOut: a host calls a registered phone into the meeting;
// others may not; unknown targets are not found.
func TestSIPMeetingDialOut(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) {})
	root := admin(t, a, "root")
	member(t, a, "bob")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"200","password":"bob desk phone","userId":"bob"}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"201","password":"bob other phone","userId":"bob"}`)
	phone := newUDPPhone(t, a, "200", "bob desk phone")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	host := newTalker(ctx, t, a, "dialouttest", "Host", 500)
	guest := newTalker(ctx, t, a, "dialouttest", "Guest", 1300)

	if _, err := guest.c.Request(ctx, &protocol.DialOut{Target: "200"}); err == nil || !strings.Contains(err.Error(), protocol.CodeForbidden) {
		t.Fatalf("a guest dialled out: %v", err)
	}
	for _, target := range []string{"desk-9", "201"} { // no such phone; a SIP account not registered now
		if _, err := host.c.Request(ctx, &protocol.DialOut{Target: target}); err == nil || !strings.Contains(err.Error(), protocol.CodeNotFound) {
			t.Fatalf("dialling an unregistered phone %s: %v", target, err)
		}
	}
	// Digits that are no phone here are a telephone number: an anonymous host may not call one.
	if _, err := host.c.Request(ctx, &protocol.DialOut{Target: "999"}); err == nil || !strings.Contains(err.Error(), "sign in") {
		t.Fatalf("an anonymous host dialled a number: %v", err)
	}
	if _, err := host.c.Request(ctx, &protocol.DialOut{Target: "200"}); err != nil {
		t.Fatal(err)
	}
	inv := phone.request("INVITE")
	phone.reply(inv, 180, "Ringing", "")
	time.Sleep(100 * time.Millisecond) // ringing is reported before the answer comes
	media := newRTPPhone(t)
	phone.reply(inv, 200, "OK", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio "+
		strconv.Itoa(media.port())+" RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
	var states []string
	var phoneID string
	for phoneID == "" {
		m, err := host.c.WaitEvent(ctx, func(m protocol.Message) bool { _, ok := m.(*protocol.DialProgress); return ok })
		if err != nil {
			t.Fatalf("dial progress: %v (so far %v)", err, states)
		}
		p := m.(*protocol.DialProgress)
		states = append(states, p.State)
		switch p.State {
		case protocol.DialFailed:
			t.Fatalf("dial-out failed: %s", p.Reason)
		case protocol.DialAnswered:
			phoneID = p.Participant
		}
	}
	if states[0] != protocol.DialRinging || !strings.HasPrefix(phoneID, "sip_") {
		t.Fatalf("progress %v, participant %q", states, phoneID)
	}
	if _, err := guest.c.WaitEvent(ctx, func(m protocol.Message) bool {
		j, ok := m.(*protocol.ParticipantJoined)
		return ok && j.Participant.ID == phoneID && j.Participant.Name == "200"
	}); err != nil {
		t.Fatalf("the guest did not see the phone join: %v", err)
	}
	// The phone hears the meeting.
	deadline := time.Now().Add(5 * time.Second)
	for toneAmp(lastSecond(media.heard()), 1300, audio.PhoneRate) < 0.1 {
		if time.Now().After(deadline) {
			t.Fatal("the dialled phone does not hear the guest")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A second call rings while the meeting ends: the phone gets CANCEL.
	if _, err := host.c.Request(ctx, &protocol.DialOut{Target: "200"}); err != nil {
		t.Fatal(err)
	}
	inv = phone.request("INVITE")
	phone.reply(inv, 180, "Ringing", "")
	time.Sleep(100 * time.Millisecond)
	a.registry.Delete(ctx, "dialouttest") // ends the live room (it was never saved: ErrNotFound)
	can := phone.request("CANCEL")
	phone.reply(can, 200, "OK", "")
	phone.reply(inv, 487, "Request Terminated", "")
}

func lastSecond(pcm []int16) []int16 {
	if len(pcm) < audio.PhoneRate {
		return nil
	}
	return pcm[len(pcm)-audio.PhoneRate:]
}
