package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/config"
	"switchboard/internal/sip"
)

// jssipBundle is JsSIP from npm, bundled for the browser by scripts/test.sh
// (npm ci && npm run build in e2e/jssip).
func jssipBundle(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("jssip", "dist", "jssip.js"))
	if err != nil {
		msg := "JsSIP is not built: run ./scripts/test.sh, or npm ci && npm run build in e2e/jssip"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return b
}

// jssipPage is a page on another origin running a JsSIP user agent with
// Ann's SIP account 300 (or the account of the query's user and pw): it
// registers over SIP over WebSocket, and window.call(target) places a call
// with the fake microphone, reporting the session's state in window.sip,
// and what the call received so far in window.sip.heard.
const jssipPage = `<!doctype html><meta charset="utf-8"><title>JsSIP</title>
<script src="/jssip.js"></script>
<script>
JsSIP.debug.enable('JsSIP:*');
window.sip = { reg: 'pending', call: 'idle', cause: '' };
const q = new URLSearchParams(location.search);
const ua = new JsSIP.UA({
  sockets: [new JsSIP.WebSocketInterface(q.get('ws'))],
  uri: 'sip:' + (q.get('user') || '300') + '@pbx.test', password: q.get('pw') || 'ann browser phone', display_name: 'Ann (JsSIP)',
  register: true, // session timers on, as JsSIP's default: it refreshes by UPDATE
});
ua.on('registered', () => { window.sip.reg = 'ok'; });
ua.on('registrationFailed', (e) => { window.sip.reg = 'failed: ' + e.cause; });
ua.start();
// follow reports a session's state in window.sip and plays what it receives
// (Chromium measures received audio energy as it plays it).
const follow = (s) => {
  window.session = s;
  s.on('progress', () => { window.sip.call = 'ringing'; });
  s.on('confirmed', () => {
    window.sip.call = 'confirmed';
    const poll = setInterval(async () => { try { window.sip.heard = await window.inbound(); } catch (e) {} }, 250);
    s.on('ended', () => clearInterval(poll));
    const tracks = s.connection.getReceivers().map((r) => r.track).filter((t) => t && t.kind === 'audio');
    const a = document.createElement('audio');
    a.autoplay = true; a.srcObject = new MediaStream(tracks); document.body.appendChild(a);
  });
  s.on('failed', (e) => { window.sip.call = 'failed'; window.sip.cause = e.cause; });
  s.on('ended', (e) => { window.sip.call = 'ended'; window.sip.cause = e.cause; });
};
window.call = (target) => {
  window.sip.call = 'calling';
  follow(ua.call('sip:' + target + '@pbx.test', { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } }));
};
// Calls to this phone are answered at once.
ua.on('newRTCSession', (e) => {
  if (e.originator !== 'remote') return;
  window.sip.call = 'incoming';
  follow(e.session);
  e.session.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } });
});
window.inbound = async () => {
  const st = await window.session.connection.getStats();
  let out = { packets: 0, energy: 0, codec: '' };
  st.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out.packets = s.packetsReceived; out.energy = s.totalAudioEnergy || 0;
      const c = s.codecId && st.get(s.codecId); if (c) out.codec = c.mimeType;
    }
  });
  return out;
};
</script>`

// jssipScene is a server with SIP, Ann and Ben, and a JsSIP page (another
// origin) registered as Ann's SIP account 300 over /sip with digest
// authentication; Ben is signed in in his browser.
func jssipScene(t *testing.T) (srv *server, ben, phone *browser) {
	t.Helper()
	srv = startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	ann := createUser(t, srv, "ann", "Ann", "member")
	createUser(t, srv, "ben", "Ben", "member")
	ben = newBrowser(t, "Ben")
	ben.signIn(srv.URL, "ben")
	return srv, ben, jssipPhone(t, srv, "300", "ann browser phone", ann.ID)
}

// jssipPhone creates the SIP account ext (linked to ownerID, or nobody)
// and registers a JsSIP page (another origin) with it over /sip.
func jssipPhone(t *testing.T, srv *server, ext, pw, ownerID string) *browser {
	t.Helper()
	bundle := jssipBundle(t)
	acct, err := sip.NewAccount(ext, "", ownerID, "pbx.test", pw, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.app.Store().CreateSIPAccount(context.Background(), acct); err != nil {
		t.Fatal(err)
	}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/jssip.js" {
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(bundle)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(jssipPage))
	}))
	t.Cleanup(site.Close)
	phone := newBrowser(t, "JsSIP")
	phone.navigate(site.URL + "/?" + url.Values{"ws": {"ws" + strings.TrimPrefix(srv.URL, "http") + "/sip"},
		"user": {ext}, "pw": {pw}}.Encode())
	phone.waitJS(15*time.Second, "JsSIP registered", `window.sip && window.sip.reg === 'ok'`)
	if bs := srv.app.SIPBindings(ext); len(bs) != 1 || !strings.EqualFold(bs[0].Transport, "ws") {
		t.Fatalf("bindings of %s: %+v", ext, bs)
	}
	return phone
}

// jssipHears waits until JsSIP's call has received audio with sound, in
// G.711.
func jssipHears(t *testing.T, phone *browser) {
	t.Helper()
	var heard jssipHeard
	eventually(t, scaled(15*time.Second), "JsSIP to hear the call", func() (bool, string) {
		heard = mustEval[jssipHeard](phone, `window.sip.heard || {}`)
		return heard.Packets >= 40 && heard.Energy > 0, fmt.Sprintf("JsSIP's inbound audio: %+v", heard)
	})
	if heard.Codec != "audio/PCMU" && heard.Codec != "audio/PCMA" {
		t.Errorf("JsSIP receives %q; want G.711", heard.Codec)
	}
}

// jssipHeard is what JsSIP's call receives.
type jssipHeard struct {
	Packets float64 `json:"packets"`
	Energy  float64 `json:"energy"`
	Codec   string  `json:"codec"`
}

// bothHear checks that Ben hears the JsSIP phone (as who) and JsSIP hears
// Ben, in G.711 passed through.
func bothHear(t *testing.T, ben, phone *browser, who string) {
	t.Helper()
	eventually(t, scaled(15*time.Second), "Ben to hear JsSIP", func() (bool, string) {
		st, err := ben.inboundStats()
		if err != nil {
			return false, err.Error()
		}
		a := st[who+"/microphone"]
		return a.Packets >= 40 && a.AudioEnergy > 0, describeStats(st) + "; " + ben.diag()
	})
	var heard jssipHeard
	eventually(t, scaled(15*time.Second), "JsSIP to hear Ben", func() (bool, string) {
		heard = mustEval[jssipHeard](phone, `window.inbound()`)
		return heard.Packets >= 40 && heard.Energy > 0, fmt.Sprintf("JsSIP's inbound audio: %+v", heard)
	})
	if heard.Codec != "audio/PCMU" && heard.Codec != "audio/PCMA" {
		t.Errorf("JsSIP receives %q; want G.711 passed through", heard.Codec)
	}
}

// A standard SIP-over-WebSocket client in a browser: JsSIP (from npm) on
// another origin registers with Ann's SIP account over /sip, with digest
// authentication, and calls Ben. Its WebRTC offer (ICE, DTLS-SRTP) is
// answered by a peer connection on the SFU's sockets with G.711 alone; Ben's
// browser rings, he accepts, and each browser hears the other (packets and
// audio energy), with nothing transcoded. A key pressed in JsSIP (SIP
// INFO) reaches Ben's page. JsSIP hangs up and Ben's call screen closes.
func TestJsSIPCallsBrowser(t *testing.T) {
	srv, ben, phone := jssipScene(t)
	mustEval[bool](phone, `(() => { window.call('ben'); return true; })()`)

	ben.waitJS(20*time.Second, "the incoming call screen", `(() => {
		const s = document.querySelector('[data-testid="incoming-call"]');
		return s && s.textContent.includes('Ann'); })()`)
	ben.click("call-accept")
	phone.waitJS(20*time.Second, "JsSIP's call confirmed", `window.sip.call === 'confirmed'`)
	ben.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)

	bothHear(t, ben, phone, "Ann")

	// A key pressed in JsSIP goes by SIP INFO (its default), into the call's
	// room, and to Ben's page as the call's dtmf.
	mustEval[bool](phone, `(() => { window.session.sendDTMF('5'); return true; })()`)
	ben.waitJS(10*time.Second, "JsSIP's key in Ben's call", `[...window.__sbChat.calls.values()].some((c) => (c.keys || '').includes('5'))`)

	mustEval[bool](phone, `(() => { window.session.terminate(); return true; })()`)
	ben.waitJS(15*time.Second, "Ben's call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
	eventually(t, scaled(10*time.Second), "the call to end on the server", func() (bool, string) {
		n := metric(t, srv, "switchboard_sip_calls")
		return n == 0, fmt.Sprintf("%v calls up", n)
	})
}

// A browser user calls a browser SIP client: Ben dials Ann's extension 300,
// registered by JsSIP over WebSocket. The gateway offers it WebRTC (a peer
// connection of ours, G.711 alone) rather than plain RTP; JsSIP answers at
// once and each hears the other. Ben hangs up and JsSIP's call ends.
func TestBrowserCallsJsSIP(t *testing.T) {
	srv, ben, phone := jssipScene(t)
	ben.waitJS(10*time.Second, "the calls module", `!!window.__sbCalls`)
	mustEval[bool](ben, `(() => { window.__sbCalls.start({ phone: '300' }, false); return true; })()`)
	phone.waitJS(20*time.Second, "JsSIP's call confirmed", `window.sip.call === 'confirmed'`)
	ben.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)
	bothHear(t, ben, phone, "300")
	ben.click("leave")
	phone.waitJS(15*time.Second, "JsSIP's call ended", `window.sip.call === 'ended'`)
	eventually(t, scaled(10*time.Second), "the call to end on the server", func() (bool, string) {
		n := metric(t, srv, "switchboard_sip_calls")
		return n == 0, fmt.Sprintf("%v calls up", n)
	})
}

// A desk phone calls a browser SIP client: sipp, registered as the lobby
// phone (SIP account 100, linked to nobody), calls extension 310, a JsSIP
// page registered over WebSocket and linked to nobody either, so the call
// goes phone to phone. The gateway offers JsSIP WebRTC (a peer connection
// of ours in sipp's PCMA alone) rather than plain RTP; JsSIP answers, hears
// sipp's capture, and sipp is sent JsSIP's microphone; sipp hangs up and
// JsSIP's call ends.
func TestPhoneCallsJsSIP(t *testing.T) {
	sippBin, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	ctx, cancel := context.WithTimeout(context.Background(), scaled(60*time.Second))
	defer cancel()
	phone := jssipPhone(t, srv, "310", "lobby browser phone", "")
	acct, err := sip.NewAccount("100", "Lobby", "", "pbx.test", "lobby desk phone", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.app.Store().CreateSIPAccount(context.Background(), acct); err != nil {
		t.Fatal(err)
	}
	target := srv.app.SIPAddrs().UDP.String()
	desk := startSipp(t, ctx, sippBin, dir, "uac_auth_call.xml", target, "-s", "310", "-au", "100", "-ap", "lobby desk phone",
		"-key", "caller", "100", "-auth_uri", "310@"+target, "-p", strconv.Itoa(freePort(t, "127.0.0.1")))
	phone.waitJS(20*time.Second, "JsSIP's call confirmed", `window.sip.call === 'confirmed' || window.sip.call === 'ended'`)
	jssipHears(t, phone)
	phoneHears(t, srv, 50)
	desk.waitBye(t, ctx)
	phone.waitJS(15*time.Second, "JsSIP's call ended", `window.sip.call === 'ended'`)
	eventually(t, scaled(10*time.Second), "the calls to end on the server", func() (bool, string) {
		n := metric(t, srv, "switchboard_sip_calls")
		return n == 0, fmt.Sprintf("%v calls up", n)
	})
}
