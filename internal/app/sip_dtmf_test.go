package app

import (
	"context"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/client"
	"switchboard/internal/protocol"
	sbsip "switchboard/internal/sip"
)

// dtmfMic is a browser's microphone that can also send RFC 4733 events on
// its stream, as RTCDTMFSender does: audio with the negotiated PCMU
// payload type, events with the negotiated telephone-event one.
type dtmfMic struct {
	mu      sync.Mutex
	w       webrtc.TrackLocalWriter
	ssrc    uint32
	audioPT uint8
	eventPT uint8
	seq     uint16
}

func (m *dtmfMic) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var audio webrtc.RTPCodecParameters
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range ctx.CodecParameters() {
		switch {
		case strings.EqualFold(c.MimeType, webrtc.MimeTypePCMU):
			audio, m.audioPT = c, uint8(c.PayloadType)
		case strings.EqualFold(c.MimeType, "audio/telephone-event") && c.ClockRate == 8000:
			m.eventPT = uint8(c.PayloadType)
		}
	}
	m.w, m.ssrc = ctx.WriteStream(), uint32(ctx.SSRC())
	return audio, nil
}
func (m *dtmfMic) Unbind(webrtc.TrackLocalContext) error { return nil }
func (m *dtmfMic) ID() string                            { return "mic" }
func (m *dtmfMic) RID() string                           { return "" }
func (m *dtmfMic) StreamID() string                      { return "bob" }
func (m *dtmfMic) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeAudio }

func (m *dtmfMic) write(event bool, ts uint32, marker bool, payload []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.w == nil {
		return
	}
	pt := m.audioPT
	if event {
		pt = m.eventPT
	}
	m.seq++
	m.w.WriteRTP(&rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: m.seq, Timestamp: ts, SSRC: m.ssrc, Marker: marker}, payload)
}

// keyPress returns the packets of one RFC 4733 key press: growing
// durations, then the end packet three times, all with one timestamp.
func keyPress(event byte) [][]byte {
	var out [][]byte
	for i, d := range []uint16{160, 320, 480, 640, 640, 640} {
		p := make([]byte, 4)
		p[0] = event
		p[1] = 10 // volume
		if i >= 3 {
			p[1] |= 0x80
		}
		binary.BigEndian.PutUint16(p[2:], d)
		out = append(out, p)
	}
	return out
}

func dtmfAPI(t *testing.T) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	// Browsers' usual number for it, not ours: the SFU maps payload types.
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: "audio/telephone-event", ClockRate: 8000, Channels: 1}, PayloadType: 126}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(client.LoopbackSettings()))
}

// Keypad tones pass through a call between a phone and a browser, both
// ways, as RFC 4733 events with each side's own payload type: the phone
// (telephone-event 96) presses 7 and the browser receives one key press on
// its telephone-event payload type; the browser (126) presses 5 and the
// phone receives it on 96. Key presses are told apart by timestamp.
func TestSIPDTMFBothWays(t *testing.T) {
	a := startSIPServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, events := phoneAndBob(ctx, t, a)

	ua, _ := sipgo.NewUA()
	defer ua.Close()
	phoneClient, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	media, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	srvAddr := a.SIPAddrs().UDP.(*net.UDPAddr)
	invite := phoneInvite(srvAddr.Port, "",
		"m=audio "+strconv.Itoa(media.LocalAddr().(*net.UDPAddr).Port)+" RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n")
	answered := callFromPhone(ctx, t, phoneClient, invite)
	wait := func(what string, match func(protocol.Message) bool) protocol.Message {
		t.Helper()
		return nextEvent(ctx, t, events, what, match)
	}
	inc := wait("call.incoming", func(msg protocol.Message) bool { _, ok := msg.(*protocol.CallIncoming); return ok }).(*protocol.CallIncoming)
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "answer", Call: inc.Call.ID}); err != nil {
		t.Fatal(err)
	}
	acc := wait("accepted", func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		return ok && s.State == "accepted"
	}).(*protocol.CallState)
	res := <-answered
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("the phone's INVITE: %v", res)
	}
	ans, err := sbsip.ParseSDP(res.Body())
	if err != nil || !ans.HasDTMF || ans.DTMF != 96 {
		t.Fatalf("answer SDP %q: %v", res.Body(), err)
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

	// Bob's side: what arrives on the phone's track, by payload type.
	var mu sync.Mutex
	var bobKeys []byte
	var bobAudio int
	var bobDetector sbsip.DTMFDetector
	bob, err := client.Dial(ctx, a.URL(), dtmfAPI(t), protocol.Join{Room: acc.Room, Name: "Bob", Token: acc.Token},
		func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
			var eventPT uint8
			for _, c := range recv.GetParameters().Codecs {
				if strings.EqualFold(c.MimeType, "audio/telephone-event") {
					eventPT = uint8(c.PayloadType)
				}
			}
			go func() {
				for {
					p, _, err := tr.ReadRTP()
					if err != nil {
						return
					}
					mu.Lock()
					switch {
					case p.PayloadType == 0:
						bobAudio++
					case eventPT != 0 && p.PayloadType == eventPT:
						for _, e := range bobDetector.Feed(p.Timestamp, p.Payload) {
							bobKeys = append(bobKeys, e.Digit)
						}
					}
					mu.Unlock()
				}
			}()
		})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	mic := &dtmfMic{}
	if err := bob.Publish(ctx, map[webrtc.TrackLocal]string{mic: "microphone"}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); bob.Pub.ConnectionState() != webrtc.PeerConnectionStateConnected; {
		if time.Now().After(deadline) {
			t.Fatalf("bob's publish connection: %v", bob.Pub.ConnectionState())
		}
		time.Sleep(20 * time.Millisecond)
	}
	mic.mu.Lock()
	if mic.eventPT == 0 {
		t.Fatal("the server did not negotiate telephone-event with the browser in a call with a phone")
	}
	mic.mu.Unlock()

	// The phone's side: audio and key presses on 96.
	var phoneKeys []byte
	phonePTs := map[uint8]int{}
	var phoneDetector sbsip.DTMFDetector
	phoneDone := make(chan struct{})
	go func() {
		defer close(phoneDone)
		buf := make([]byte, 1500)
		for {
			media.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, err := media.Read(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) == nil {
				phonePTs[p.PayloadType]++
			}
			if p.PayloadType == 96 {
				for _, e := range phoneDetector.Feed(p.Timestamp, p.Payload) {
					phoneKeys = append(phoneKeys, e.Digit)
				}
			}
		}
	}()

	// Both send audio, then a key each, then audio again.
	payload := make([]byte, 160)
	seq, ts := uint16(0), uint32(0)
	phoneSend := func(pt uint8, marker bool, tstamp uint32, pl []byte) {
		seq++
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: tstamp, SSRC: 0x1234, Marker: marker}, Payload: pl}
		raw, _ := p.Marshal()
		media.WriteToUDPAddrPort(raw, ans.Addr)
	}
	talk := func(n int) {
		for range n {
			ts += 160
			phoneSend(0, false, ts, payload)
			mic.write(false, ts, false, payload)
			time.Sleep(20 * time.Millisecond)
		}
	}
	talk(25)
	start := ts + 160
	for i, ev := range keyPress(7) {
		phoneSend(96, i == 0, start, ev)
		time.Sleep(20 * time.Millisecond)
	}
	for i, ev := range keyPress(5) {
		mic.write(true, start, i == 0, ev)
		time.Sleep(20 * time.Millisecond)
	}
	ts = start + 640
	talk(25)
	<-phoneDone

	// The key pressed on the phone is also told over messaging.
	for dtmf := ""; dtmf != "7"; {
		select {
		case msg := <-events:
			if d, ok := msg.(*protocol.CallDTMF); ok && d.Call == inc.Call.ID {
				dtmf = d.Digit
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no call.dtmf for the phone's key")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("bob heard %d audio packets and keys %q; the phone got keys %q (bob sent events on %d); the phone got %v", bobAudio, bobKeys, phoneKeys, mic.eventPT, phonePTs)
	if string(bobKeys) != "7" {
		t.Errorf("bob received keys %q from the phone, want \"7\"", bobKeys)
	}
	if string(phoneKeys) != "5" {
		t.Errorf("the phone received keys %q from bob, want \"5\"", phoneKeys)
	}
	if bobAudio < 30 {
		t.Errorf("bob heard %d audio packets", bobAudio)
	}
}
