//go:build libopus

package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo/sip"

	"switchboard/internal/account"
	"switchboard/internal/audio"
	"switchboard/internal/auth"
	"switchboard/internal/config"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// callToken is a join token of this server for an account, as people.go
// mints for calls, with the host's rights.
func callToken(t *testing.T, a *App, userID, roomID string) string {
	t.Helper()
	now := time.Now()
	tok, err := auth.Mint(callKeyID, a.callKey, auth.Claims{Identity: "user:" + userID, Name: userID, Room: roomID,
		Join: true, Publish: true, Subscribe: true, Moderate: true, Create: true, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawJoin joins a meeting (a new one: as its host) on a signalling socket
// opened with header, without media; it returns the socket and the
// session's token.
func rawJoin(ctx context.Context, t *testing.T, a *App, header http.Header, join protocol.Join) (*websocket.Conn, string) {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/signal", &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	join.V = protocol.Version
	data := rawRequest(ctx, t, ws, protocol.WithID(&join, "j"))
	var joined struct{ Type, Session string }
	if json.Unmarshal(data, &joined); joined.Type != "joined" {
		t.Fatalf("join: %s", data)
	}
	return ws, joined.Session
}

// rawRequest sends m (with an id) and returns the answer to it.
func rawRequest(ctx context.Context, t *testing.T, ws *websocket.Conn, m protocol.Message) []byte {
	t.Helper()
	if err := ws.Write(ctx, websocket.MessageText, protocol.Encode(m)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("no answer to %s: %v", m.TypeName(), err)
		}
		if protocol.PeekID(data) == protocol.RequestID(m) {
			return data
		}
	}
}

// rawDialOut asks to dial target on a joined socket and returns the error
// ("code: message"), "" for ok.
func rawDialOut(ctx context.Context, t *testing.T, ws *websocket.Conn, target string) string {
	t.Helper()
	var res struct{ Type, Code, Message string }
	json.Unmarshal(rawRequest(ctx, t, ws, protocol.WithID(&protocol.DialOut{Target: target}, "d")), &res)
	if res.Type == "error" {
		return res.Code + ": " + res.Message
	}
	return ""
}

// A meeting's host signed in as a member dials a telephone number: it is
// called through the trunk (sipp as the provider, demanding digest and
// echoing what it hears), joins the meeting when answered, hears the
// meeting (its echo comes back into the room: the host hears their own
// tone from the phone) and leaves when the host removes it (sipp gets the
// BYE); meanwhile another number is refused, the trunk's one line being
// taken. The call record names the host. Hosts not signed in, signed in on
// another site's page, or with a role that may not call numbers are
// refused, and so are numbers outside sip.dial_prefixes.
func TestSIPMeetingDialsNumber(t *testing.T) {
	port, wait := sippProvider(t)
	a := startSIPServer(t, func(c *config.Config) {
		c.SIP.DefaultCountryCode = "44"
		c.SIP.DialPrefixes = []string{"+4420"}
		c.AllowedOrigins = []string{"http://elsewhere.test"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	if _, err := a.accounts.CreateUser(ctx, account.NewUser{Username: "ann", Role: account.RoleMember, Password: "a long enough password"}); err != nil {
		t.Fatal(err)
	}
	resp := jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root, `{"name":"Provider","host":"127.0.0.1:`+strconv.Itoa(port)+`",
		"username":"trunkuser","password":"trunk secret","fromDomain":"provider.test","outboundPrefixes":["+44"],"numberFormat":"national","maxCalls":1}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("trunk: %s", resp.Status)
	}
	ann, err := a.store.UserByUsername(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}

	// Who may dial numbers is the connection's account, never the page's say.
	sess := signIn(t, a, "ann", "a long enough password")
	own := http.Header{"Cookie": {sess.cookie}, "Origin": {a.URL()}}
	other := http.Header{"Cookie": {sess.cookie}, "Origin": {"http://elsewhere.test"}}
	for _, c := range []struct {
		name   string
		header http.Header
		join   protocol.Join
		target string
		want   string
	}{
		{"anonymous host", http.Header{"Origin": {a.URL()}}, protocol.Join{Room: "r1", Name: "Anon"}, "02079460000", "sign in"},
		{"signed in on another site's page", other, protocol.Join{Room: "r2", Name: "Ann"}, "02079460000", "sign in"},
		// A website visitor in a call with an agent has such a token too.
		{"visitor", nil, protocol.Join{Room: "r3", Token: callToken(t, a, "v-visitor", "r3")}, "02079460000", "sign in"},
		{"signed in, outside sip.dial_prefixes", own, protocol.Join{Room: "r4", Name: "Ann"}, "+449098790000", "sip.dial_prefixes"},
		{"signed in, an extension that is no phone", own, protocol.Join{Room: "r5", Name: "Ann"}, "desk", "no phone is registered"},
	} {
		ws, _ := rawJoin(ctx, t, a, c.header, c.join)
		if got := rawDialOut(ctx, t, ws, c.target); !strings.Contains(got, c.want) {
			t.Errorf("%s: dialOut %s: %q, want an error about %q", c.name, c.target, got, c.want)
		}
	}
	// A resumed session keeps its account, whatever the new socket sends.
	ws, session := rawJoin(ctx, t, a, own, protocol.Join{Room: "r6", Name: "Ann"})
	ws.Close(websocket.StatusGoingAway, "")
	ws, _ = rawJoin(ctx, t, a, http.Header{"Origin": {a.URL()}}, protocol.Join{Room: "r6", Resume: session})
	if got := rawDialOut(ctx, t, ws, "+449098790000"); !strings.Contains(got, "sip.dial_prefixes") {
		t.Errorf("resumed: dialOut: %q, want the signed-in refusal about sip.dial_prefixes", got)
	}

	// Ann, signed in (her call token), hosts a meeting and calls a London number.
	host := newTalkerJoin(ctx, t, a, protocol.Join{Room: "dialnumber", Token: callToken(t, a, ann.ID, "dialnumber")}, 500)
	if _, err := host.c.Request(ctx, &protocol.DialOut{Target: "020 7946 0000"}); err == nil {
		t.Fatal("a target with spaces was taken")
	}
	if _, err := host.c.Request(ctx, &protocol.DialOut{Target: "02079460000"}); err != nil {
		t.Fatal(err)
	}
	var phoneID string
	for phoneID == "" {
		m, err := host.c.WaitEvent(ctx, func(m protocol.Message) bool { _, ok := m.(*protocol.DialProgress); return ok })
		if err != nil {
			t.Fatalf("dial progress: %v", err)
		}
		switch p := m.(*protocol.DialProgress); p.State {
		case protocol.DialFailed:
			out := ""
			if _, o := wait(); true {
				out = o
			}
			t.Fatalf("dial-out failed: %s\n%s", p.Reason, out)
		case protocol.DialAnswered:
			phoneID = p.Participant
		}
	}
	// The provider hears the meeting (voiced frames go to it) and echoes
	// it: Ann hears her own tone from the phone's track.
	deadline := time.Now().Add(10 * time.Second)
	for {
		heard := host.heardPhone()
		amp := 0.0
		if len(heard) > audio.Rate/2 {
			amp = toneAmp(heard[len(heard)-audio.Rate/2:], 500, audio.Rate)
		}
		if amp > 0.05 && a.phones.VoicedToPhone.Load() > 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ann hears her echo from the phone at %.3f; voiced frames to the phone %d", amp, a.phones.VoicedToPhone.Load())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The trunk has one line, and it is taken.
	if _, err := host.c.Request(ctx, &protocol.DialOut{Target: "02079460001"}); err == nil ||
		!strings.Contains(err.Error(), protocol.CodeRateLimited) || !strings.Contains(err.Error(), "lines") {
		t.Fatalf("a second number with the trunk's only line taken: %v", err)
	}
	// Ann removes the phone: the call ends (sipp, the provider, gets BYE).
	if _, err := host.c.Request(ctx, &protocol.Host{Action: "remove", Participant: phoneID}); err != nil {
		t.Fatal(err)
	}
	if _, err := host.c.WaitEvent(ctx, func(m protocol.Message) bool {
		p, ok := m.(*protocol.DialProgress)
		return ok && p.State == protocol.DialEnded
	}); err != nil {
		t.Fatalf("no ended progress: %v", err)
	}
	if ok, out := wait(); !ok {
		t.Fatalf("sipp (the provider) did not finish its scenario (digest, answer, BYE):\n%s", out)
	}
	// The call record names Ann as the caller.
	deadline = time.Now().Add(5 * time.Second)
	for {
		recs, err := a.store.CallRecords(ctx, store.CallRecordFilter{UserID: ann.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 {
			r := recs[0]
			if r.From != "ann" || r.FromUserID != ann.ID || r.To != "+442079460000" || r.Trunk == "" || r.Outcome != "answered" {
				t.Fatalf("the call's record: %+v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records of Ann's calls: %+v", recs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A meeting's dial-outs are limited, and so are an account's calls to numbers.
func TestDialOutLimit(t *testing.T) {
	var l dialOutLimit
	for i := range maxMeetingDialOuts {
		if !l.start("r") {
			t.Fatalf("dial-out %d refused", i+1)
		}
	}
	if l.start("r") {
		t.Fatal("one dial-out too many was allowed")
	}
	if !l.start("other") {
		t.Fatal("another meeting's dial-out was refused")
	}
	l.end("r")
	if !l.start("r") {
		t.Fatal("a dial-out that ended was not given back")
	}
	for range maxMeetingDialOuts {
		l.end("r")
	}
	l.end("other")
	// An account's calls to numbers count across meetings: one more is
	// refused even from a meeting with room, and takes nothing.
	for i := range maxMeetingDialOuts {
		if !l.start(fmt.Sprintf("room:%d", i), "account:ann") {
			t.Fatalf("ann's call %d was refused", i)
		}
	}
	if l.start("room:new", "account:ann") {
		t.Fatal("ann had one number too many ringing across her meetings")
	}
	if l.calls["room:new"] != 0 {
		t.Fatal("a refused dial-out took a place")
	}
	for i := range maxMeetingDialOuts {
		l.end(fmt.Sprintf("room:%d", i), "account:ann")
	}
	if len(l.calls) != 0 {
		t.Fatalf("left over: %v", l.calls)
	}
}

// A meeting's call through a trunk offers only what the conference bridge
// decodes (G.711), not the trunk's usual G.722 first; a provider that
// answers with G.722 all the same gets ACK and BYE rather than a silent
// call, and the host is told the call failed.
func TestSIPMeetingDialOutUnusableCodec(t *testing.T) {
	prov, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer prov.Close()
	addr := prov.LocalAddr().(*net.UDPAddr)
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "44" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	member(t, a, "ann")
	if resp := jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root, `{"name":"Wideband","host":"`+addr.String()+`"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("trunk: %s", resp.Status)
	}
	host := newTalkerJoin(ctx, t, a, protocol.Join{Room: "widebandtest", Token: callToken(t, a, "ann", "widebandtest")}, 500)
	if _, err := host.c.Request(ctx, &protocol.DialOut{Target: "+442079460000"}); err != nil {
		t.Fatal(err)
	}
	// read returns the next request of method from the server (others are skipped).
	read := func(method sip.RequestMethod) (*sip.Request, *net.UDPAddr) {
		buf := make([]byte, 65536)
		for {
			prov.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := prov.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("the provider waited for %s: %v", method, err)
			}
			if m, err := sip.ParseMessage(buf[:n]); err == nil {
				if req, ok := m.(*sip.Request); ok && req.Method == method {
					return req, from
				}
			}
		}
	}
	inv, from := read(sip.INVITE)
	if strings.Contains(string(inv.Body()), "G722") {
		t.Fatalf("a meeting's call offered G.722, which its mixer cannot decode:\n%s", inv.Body())
	}
	res := sip.NewResponseFromRequest(inv, 200, "OK", []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio 40002 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"))
	res.To().Params.Add("tag", "wide")
	res.AppendHeader(sip.NewHeader("Contact", "<sip:provider@"+addr.String()+">"))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if _, err := prov.WriteToUDP([]byte(res.String()), from); err != nil {
		t.Fatal(err)
	}
	read(sip.ACK)
	bye, from := read(sip.BYE)
	prov.WriteToUDP([]byte(sip.NewResponseFromRequest(bye, 200, "OK", nil).String()), from)
	m, err := host.c.WaitEvent(ctx, func(m protocol.Message) bool {
		p, ok := m.(*protocol.DialProgress)
		return ok && p.State != protocol.DialRinging
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := m.(*protocol.DialProgress); p.State != protocol.DialFailed {
		t.Fatalf("progress %+v, want failed", p)
	}
}
