//go:build libopus

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/config"
	"switchboard/internal/sip"
)

// A phone dials into a meeting with two browsers: sipp, registered as
// Ann's desk phone (SIP account 100, digest-authenticated), calls the
// conference extension "meet", keys the meeting's PIN and '#' with sipp's
// RFC 2833 captures, then streams its G.711 A-law capture. Both browsers
// hear the phone (Opus, decoded with audio energy in getStats), and the
// phone is sent the meeting's mix (the browsers' fake microphones beep):
// frames with sound are counted by the server. The meeting page shows the
// dial-in details.
func TestPhoneDialsIntoMeeting(t *testing.T) {
	sippBin, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	ann := createUser(t, srv, "ann", "Ann", "member")
	acct, err := sip.NewAccount("100", "", ann.ID, "pbx.test", "ann desk phone", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.app.Store().CreateSIPAccount(context.Background(), acct); err != nil {
		t.Fatal(err)
	}

	// sipp replays the same capture for the same digit, with the same RTP
	// timestamp, so a PIN with a digit twice in a row would read as one
	// press: take a meeting whose PIN has none.
	var roomID, pin string
	for range 50 {
		roomID = srv.createRoom(t)
		if pin = srv.app.MeetingPIN(roomID); len(pin) == 9 && !repeatsDigit(pin) {
			break
		}
	}
	if len(pin) != 9 || repeatsDigit(pin) {
		t.Fatalf("no usable PIN (last %q)", pin)
	}

	a := newBrowser(t, "Ann")
	a.joinViaLink(srv.URL + "/m/" + roomID)
	shown := mustEval[string](a, `(document.querySelector('[data-testid="dial-in"]') || {}).textContent || ''`)
	if want := "Dial in: extension meet, PIN " + pin[:3] + " " + pin[3:6] + " " + pin[6:]; shown != want {
		t.Errorf("the meeting shows %q, want %q", shown, want)
	}
	b := newBrowser(t, "Bob")
	b.joinViaLink(srv.URL + "/m/" + roomID)

	scen := filepath.Join(dir, "dial_in.xml")
	if err := os.WriteFile(scen, []byte(dialInScenario(t, pin)), 0o644); err != nil {
		t.Fatal(err)
	}
	target := srv.app.SIPAddrs().UDP.String()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(90*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, sippBin, target, "-sf", scen, "-s", "meet", "-au", "100", "-ap", "ann desk phone",
		"-key", "caller", "100", "-auth_uri", "meet@"+target,
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "127.0.0.1")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "127.0.0.1")),
		"-m", "1", "-nostdin", "-timeout", "80s", "-timeout_error")
	cmd.Dir = dir
	sippOut := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = sippOut, sippOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sippDone := make(chan error, 1)
	go func() { sippDone <- cmd.Wait() }()

	// Both browsers hear the phone, published as participant "100".
	for _, br := range []*browser{a, b} {
		eventually(t, scaled(30*time.Second), br.name+" to hear the phone", func() (bool, string) {
			st, err := br.inboundStats()
			if err != nil {
				return false, err.Error()
			}
			p := st["100/microphone"]
			return p.Packets >= 100 && p.AudioEnergy > 0, describeStats(st) + "; sipp: " + tail(sippOut.String(), 1<<10)
		})
	}
	// The phone is sent the meeting's sound.
	eventually(t, scaled(15*time.Second), "sound sent to the phone", func() (bool, string) {
		voiced := metric(t, srv, "switchboard_sip_conference_voiced_frames_to_phone_total")
		frames := metric(t, srv, "switchboard_sip_conference_frames_to_phone_total")
		return voiced >= 10 && frames >= 100, fmt.Sprintf("frames to the phone %.0f, with sound %.0f", frames, voiced)
	})
	if n := metric(t, srv, "switchboard_sip_transcoding_sessions"); n != 1 {
		t.Errorf("%v transcoding sessions, want 1", n)
	}

	select {
	case err := <-sippDone:
		if err != nil {
			t.Fatalf("sipp: %v\n%s", err, tail(sippOut.String(), 4<<10))
		}
	case <-ctx.Done():
		t.Fatalf("sipp did not finish\n%s", tail(sippOut.String(), 4<<10))
	}
	eventually(t, scaled(10*time.Second), "the phone to leave the meeting", func() (bool, string) {
		n := metric(t, srv, "switchboard_sip_transcoding_sessions")
		return n == 0, fmt.Sprintf("%v sessions", n)
	})
}

// A host calls a desk phone into the meeting from the people panel: sipp
// registers as the front desk's phone (SIP account 200) and waits
// (startDeskPhone); Ann, the host, types 200 into "Call a phone". The
// phone rings and answers, Ann is told, Bob (not a host, who has no such
// form) hears the phone's capture, the phone is sent the meeting's sound,
// and Ann removing the phone from the meeting hangs it up (sipp gets BYE).
func TestHostCallsPhoneIntoMeeting(t *testing.T) {
	sippBin, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	ctx, cancel := context.WithTimeout(context.Background(), scaled(90*time.Second))
	defer cancel()
	phone := startDeskPhone(t, ctx, srv, sippBin, dir, "pbx.test", "200", "Front desk", "front desk phone", "")

	roomID := srv.createRoom(t)
	a := newBrowser(t, "Ann")
	a.joinViaLink(srv.URL + "/m/" + roomID)
	b := newBrowser(t, "Bob")
	b.joinViaLink(srv.URL + "/m/" + roomID)

	b.click("people-toggle")
	b.waitJS(5*time.Second, "Bob's people panel", `!!document.querySelector('[data-testid="dial-in"]')`)
	if mustEval[bool](b, `!!document.querySelector('[data-testid="dial-out"]')`) {
		t.Error("Bob, not a host, has the Call a phone form")
	}
	a.click("people-toggle")
	a.waitJS(5*time.Second, "Ann's Call a phone form", `!!document.querySelector('[data-testid="dial-out"]')`)
	mustEval[bool](a, `(() => { window.__dial = []; window.__sb.room.on('dialProgress', (p) => window.__dial.push(p)); return true; })()`)
	a.typeInto("dial-out-target", "200")
	a.click("dial-out")
	a.waitJS(20*time.Second, "the phone to answer", `window.__dial.some((p) => p.state === 'answered')`)
	if os.Getenv("E2E_SCREENSHOTS") != "" {
		a.waitJS(5*time.Second, "the phone in the people panel", `document.body.textContent.includes('Front desk')`)
		a.screenshot("/tmp/e2e-dial-out.png")
	}

	eventually(t, scaled(20*time.Second), "Bob to hear the phone", func() (bool, string) {
		st, err := b.inboundStats()
		if err != nil {
			return false, err.Error()
		}
		p := st["Front desk/microphone"]
		return p.Packets >= 100 && p.AudioEnergy > 0, describeStats(st) + "; sipp: " + tail(phone.out.String(), 1<<10)
	})
	eventually(t, scaled(15*time.Second), "sound sent to the phone", func() (bool, string) {
		voiced := metric(t, srv, "switchboard_sip_conference_voiced_frames_to_phone_total")
		return voiced >= 10, fmt.Sprintf("frames to the phone with sound: %.0f", voiced)
	})

	mustEval[bool](a, `(() => { const p = window.__dial.find((p) => p.state === 'answered'); window.__sb.room.host.remove(p.participant); return true; })()`)
	phone.waitBye(t, ctx)
	a.waitJS(10*time.Second, "the ended progress", `window.__dial.some((p) => p.state === 'ended')`)
	if states := mustEval[[]string](a, `window.__dial.map((p) => p.state)`); states[0] != "ringing" {
		t.Errorf("dial progress %v", states)
	}
}

func repeatsDigit(pin string) bool {
	for i := 1; i < len(pin); i++ {
		if pin[i] == pin[i-1] {
			return true
		}
	}
	return false
}

// dialInScenario is internal/sip/testdata/uac_auth_call_late.xml (an
// authenticated call offering PCMA and telephone-event) with its media
// replaced: wait for the prompt, key pin and '#', then stream the G.711
// capture and stay a while before the BYE.
func dialInScenario(t *testing.T, pin string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "internal", "sip", "testdata", "uac_auth_call_late.xml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	const mediaStart = "  <pause milliseconds=\"3000\"/>\n  <nop>"
	const byeStart = "  <send retrans=\"500\">\n    <![CDATA[\n\n      BYE"
	i, j := strings.Index(s, mediaStart), strings.Index(s, byeStart)
	if i < 0 || j < i {
		t.Fatal("uac_auth_call_late.xml changed: its media section was not found")
	}
	var m strings.Builder
	play := func(pcap string, pauseMS int) {
		fmt.Fprintf(&m, "  <nop>\n    <action>\n      <exec play_pcap_audio=\"pcap/%s\"/>\n    </action>\n  </nop>\n  <pause milliseconds=\"%d\"/>\n", pcap, pauseMS)
	}
	m.WriteString("  <pause milliseconds=\"1500\"/>\n") // the prompt tone
	for _, d := range pin {
		play("dtmf_2833_"+string(d)+".pcap", 400)
	}
	play("dtmf_2833_pound.pcap", 1000)
	play("g711a.pcap", 7500)
	play("g711a.pcap", 7500)
	return s[:i] + m.String() + s[j:]
}

// A host calls a browser SIP client into the meeting: JsSIP (from npm, on
// another origin) is registered over WebSocket as extension 310; Ann, the
// host, types 310 into "Call a phone". The gateway offers JsSIP WebRTC (a
// peer connection of ours, PCMU), JsSIP answers, and its media is the
// phone side of the conference bridge: JsSIP hears the meeting (Ann's fake
// microphone beeps) and Ann hears JsSIP. Ann removing it hangs it up.
func TestHostCallsJsSIPIntoMeeting(t *testing.T) {
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	phone := jssipPhone(t, srv, "310", "lobby browser phone", "")
	roomID := srv.createRoom(t)
	a := newBrowser(t, "Ann")
	a.joinViaLink(srv.URL + "/m/" + roomID)
	a.click("people-toggle")
	a.waitJS(5*time.Second, "Ann's Call a phone form", `!!document.querySelector('[data-testid="dial-out"]')`)
	mustEval[bool](a, `(() => { window.__dial = []; window.__sb.room.on('dialProgress', (p) => window.__dial.push(p)); return true; })()`)
	a.typeInto("dial-out-target", "310")
	a.click("dial-out")
	a.waitJS(20*time.Second, "JsSIP to answer", `window.__dial.some((p) => p.state === 'answered')`)
	phone.waitJS(10*time.Second, "JsSIP's call confirmed", `window.sip.call === 'confirmed'`)
	jssipHears(t, phone)
	hearsPhone(t, a, "310")
	mustEval[bool](a, `(() => { const p = window.__dial.find((p) => p.state === 'answered'); window.__sb.room.host.remove(p.participant); return true; })()`)
	phone.waitJS(15*time.Second, "JsSIP's call ended", `window.sip.call === 'ended'`)
	a.waitJS(10*time.Second, "the ended progress", `window.__dial.some((p) => p.state === 'ended')`)
}

// A browser SIP client dials into a meeting: JsSIP (extension 310) calls
// the conference extension "meet" with a WebRTC offer, is answered by a
// peer connection of ours, keys the meeting's PIN by SIP INFO (JsSIP's
// default), and joins: Ann in the meeting hears it, and it hears Ann.
func TestJsSIPDialsIntoMeeting(t *testing.T) {
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	phone := jssipPhone(t, srv, "310", "lobby browser phone", "")
	roomID := srv.createRoom(t)
	pin := srv.app.MeetingPIN(roomID)
	if len(pin) != 9 {
		t.Fatalf("PIN %q", pin)
	}
	a := newBrowser(t, "Ann")
	a.joinViaLink(srv.URL + "/m/" + roomID)
	mustEval[bool](phone, `(() => { window.call('meet'); return true; })()`)
	phone.waitJS(20*time.Second, "JsSIP's call confirmed", `window.sip.call === 'confirmed'`)
	mustEval[bool](phone, `(() => { window.session.sendDTMF('`+pin+`#', { duration: 100, interToneGap: 70 }); return true; })()`)
	hearsPhone(t, a, "310")
	jssipHears(t, phone)
}

// A signed-in member calls a telephone number into her meeting: Ann signs
// in, opens a meeting (her browser's session cookie goes with the
// meeting's socket, so the server knows her account) and types a London
// number into "Call a phone". It is called through the trunk (sipp as a
// provider demanding digest and echoing what it hears): Ann hears her own
// sound come back from the phone. Removing the phone hangs it up (the
// provider gets BYE). Bob, in another meeting without signing in, is
// refused the same number and told to sign in.
func TestSignedInHostCallsNumberIntoMeeting(t *testing.T) {
	sippBin, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
		c.SIP.DefaultCountryCode = "44"
	})
	root := createUser(t, srv, "root", "Root", "admin")
	createUser(t, srv, "ann", "Ann", "member")
	ctx, cancel := context.WithTimeout(context.Background(), scaled(90*time.Second))
	defer cancel()
	port := strconv.Itoa(freePort(t, "127.0.0.1"))
	provider := startSipp(t, ctx, sippBin, dir, "uas_trunk_answer.xml", "-p", port, "-rtp_echo")
	adminPost(t, srv, root.ID, "/api/v1/sip/trunks", `{"name":"Provider",
		"host":"127.0.0.1:`+port+`","username":"trunkuser","password":"trunk secret","fromDomain":"provider.test",
		"outboundPrefixes":["+44"],"numberFormat":"national"}`)

	b := newBrowser(t, "Bob")
	b.joinViaLink(srv.URL + "/m/" + srv.createRoom(t))
	if err := mustEval[string](b, `window.__sb.room.dialOut('02079460000').then(() => '', (e) => e.message)`); !strings.Contains(err, "sign in") {
		t.Errorf("Bob, not signed in, dialling a number: %q", err)
	}

	a := newBrowser(t, "Ann")
	a.signIn(srv.URL, "ann")
	a.joinViaLink(srv.URL + "/m/" + srv.createRoom(t))
	a.click("people-toggle")
	a.waitJS(5*time.Second, "Ann's Call a phone form", `!!document.querySelector('[data-testid="dial-out"]')`)
	mustEval[bool](a, `(() => { window.__dial = []; window.__sb.room.on('dialProgress', (p) => window.__dial.push(p)); return true; })()`)
	a.typeInto("dial-out-target", "02079460000")
	a.click("dial-out")
	a.waitJS(20*time.Second, "the number to answer", `window.__dial.some((p) => p.state === 'answered' || p.state === 'failed')`)
	if failed := mustEval[string](a, `(window.__dial.find((p) => p.state === 'failed') || {}).reason || ''`); failed != "" {
		t.Fatalf("the call failed: %s\n%s", failed, tail(provider.out.String(), 4<<10))
	}
	hearsPhone(t, a, "+442079460000")
	mustEval[bool](a, `(() => { const p = window.__dial.find((p) => p.state === 'answered'); window.__sb.room.host.remove(p.participant); return true; })()`)
	provider.waitBye(t, ctx)
	a.waitJS(10*time.Second, "the ended progress", `window.__dial.some((p) => p.state === 'ended')`)
}
