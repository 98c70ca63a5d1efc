package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"switchboard/internal/chat"
	sbsip "switchboard/internal/sip"
)

// wsPhone is a browser SIP client (as JsSIP is) on SIP over WebSocket.
type wsPhone struct {
	t *testing.T
	c *websocket.Conn
}

func newWSPhone(t *testing.T, a *App, user, password string) *wsPhone {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/sip",
		&websocket.DialOptions{Subprotocols: []string{"sip"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	p := &wsPhone{t: t, c: c}
	reg := func(cseq int, auth string) *sip.Response {
		p.send(fmt.Sprintf("REGISTER sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKws%d%d\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:%s@pbx.test>;tag=ws%s\r\nTo: <sip:%s@pbx.test>\r\nCall-ID: ws-%s@test\r\n"+
			"CSeq: %d REGISTER\r\nContact: <sip:%s@df7jal23ls0d.invalid;transport=ws>\r\nExpires: 300\r\n%sContent-Length: 0\r\n\r\n",
			time.Now().UnixNano(), cseq, user, user, user, user, cseq, user, auth))
		res, ok := p.read().(*sip.Response)
		if !ok {
			t.Fatal("no answer to REGISTER")
		}
		return res
	}
	res := reg(1, "")
	chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:pbx.test", Username: user, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res := reg(2, "Authorization: "+cred.String()+"\r\n"); res.StatusCode != 200 {
		t.Fatalf("register over WebSocket: %d", res.StatusCode)
	}
	return p
}

func (p *wsPhone) send(msg string) {
	if err := p.c.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *wsPhone) read() sip.Message {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := p.c.Read(ctx)
	if err != nil {
		p.t.Fatalf("browser phone: %v", err)
	}
	m, err := sip.ParseMessage(b)
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

func (p *wsPhone) request(method string) *sip.Request {
	p.t.Helper()
	for {
		if req, ok := p.read().(*sip.Request); ok && req.Method == sip.RequestMethod(method) {
			return req
		}
	}
}

func (p *wsPhone) reply(req *sip.Request, code int, reason string) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", "browser")
		}
	}
	p.send(sip.NewResponseFromRequest(req, code, reason, nil).String())
}

// A call to an extension with a desk phone (UDP) and a browser SIP client
// (WebSocket): offerBrowsers gives the desk phone our RTP offer and the
// browser our peer connection's WebRTC offer, in one codec; the desk phone
// answers, so its RTP is the call's media and the WebRTC offer is released.
// Without a browser, the request is a plain one with early media.
func TestSIPForkDialRequest(t *testing.T) {
	a := startSIPServer(t, nil)
	root := admin(t, a, "root")
	member(t, a, "bob")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"200","password":"bob desk phone","userId":"bob"}`)
	desk := newUDPPhone(t, a, "200", "bob desk phone")
	caller := chat.Identity{Username: "ann", DisplayName: "Ann"}
	early := func(sbsip.EarlyMedia) {}

	dialRequest := func() (sbsip.DialRequest, *phoneFork, error) {
		req := sbsip.DialRequest{Username: "200", FromUser: caller.Username, FromDisplay: caller.DisplayName, OnEarly: early}
		f, err := a.offerBrowsers(&req, sbsip.PCMU, func() {})
		return req, f, err
	}
	req, f, err := dialRequest()
	if err != nil || req.WebRTCOffer != nil || req.OnEarly == nil || f.webrtc != nil {
		t.Fatalf("desk phone only: %+v %v", req, err)
	}

	browser := newWSPhone(t, a, "200", "bob desk phone")
	req, f, err = dialRequest()
	if err != nil {
		t.Fatal(err)
	}
	if md, err := sbsip.ParseSDP(req.WebRTCOffer); err != nil || !md.WebRTC || req.OnEarly != nil ||
		len(req.Codecs) != 1 || req.Codecs[0] != sbsip.PCMU {
		t.Fatalf("with a browser: %+v, %v", req, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make(chan error, 1)
	var oc *sbsip.OutCall
	go func() {
		var err error
		oc, err = a.sip.srv.Dial(ctx, req)
		out <- err
	}()
	inv := desk.request("INVITE")
	binv := browser.request("INVITE")
	if md, err := sbsip.ParseSDP(inv.Body()); err != nil || md.WebRTC || len(md.Codecs) != 1 || md.Codecs[0].Name != "PCMU" {
		t.Fatalf("the desk phone's offer: %+v %v\n%s", md, err, inv.Body())
	}
	if string(binv.Body()) != string(req.WebRTCOffer) {
		t.Fatalf("the browser got another offer:\n%s", binv.Body())
	}
	browser.reply(binv, 180, "Ringing")
	desk.reply(inv, 200, "OK", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n")
	desk.request("ACK")
	can := browser.request("CANCEL")
	if r := can.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "completed elsewhere") {
		t.Errorf("the browser's CANCEL: %v", r)
	}
	browser.reply(can, 200, "OK")
	browser.reply(binv, 487, "Request Terminated")
	if err := <-out; err != nil {
		t.Fatal(err)
	}
	defer oc.Hangup()
	media, dtmf := f.media(oc)
	if media != oc.RTP() || oc.RTP() == nil || dtmf != -1 || oc.WebRTC {
		t.Fatalf("media %v, dtmf %d, webrtc %v", media, dtmf, oc.WebRTC)
	}
	if !f.released.Load() {
		t.Error("the unused WebRTC offer was not released")
	}
}

// An admin sets media_encryption on SIP accounts and trunks; a bad value
// is refused with a message.
func TestSIPMediaEncryptionAPI(t *testing.T) {
	a := startSIPServer(t, nil)
	root := admin(t, a, "root")
	api := a.URL() + "/api/v1/sip/accounts"
	resp := jsonRequest(t, "POST", api, root, `{"username":"101","password":"front desk secret","mediaEncryption":"zrtp"}`)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "mediaEncryption") {
		t.Fatalf("bad value: %d %s", resp.StatusCode, b)
	}
	acct := decodeJSON[sipAccountJSON](t, jsonRequest(t, "POST", api, root, `{"username":"101","password":"front desk secret"}`))
	if acct.MediaEncryption != "none" {
		t.Fatalf("default %q", acct.MediaEncryption)
	}
	acct = decodeJSON[sipAccountJSON](t, jsonRequest(t, "PATCH", api+"/"+acct.ID, root, `{"mediaEncryption":"sdes"}`))
	if acct.MediaEncryption != "sdes" {
		t.Fatalf("patched %q", acct.MediaEncryption)
	}
	if st, _ := a.store.SIPAccountByUsername(context.Background(), "101"); st.MediaEncryption != sbsip.MediaSDES {
		t.Fatalf("stored %q", st.MediaEncryption)
	}

	trunks := a.URL() + "/api/v1/sip/trunks"
	resp = jsonRequest(t, "POST", trunks, root, `{"name":"P","host":"sip.example.net","mediaEncryption":"maybe"}`)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "mediaEncryption") {
		t.Fatalf("bad trunk value: %d %s", resp.StatusCode, b)
	}
	tr := decodeJSON[sipTrunkJSON](t, jsonRequest(t, "POST", trunks, root, `{"name":"P","host":"sip.example.net","mediaEncryption":"SDES"}`))
	if tr.MediaEncryption != "sdes" {
		t.Fatalf("trunk %q", tr.MediaEncryption)
	}
	if got, ok := a.sip.srv.Trunk(tr.ID); !ok || got.MediaEncryption != sbsip.MediaSDES {
		t.Fatalf("the SIP server has %+v", got)
	}
	tr = decodeJSON[sipTrunkJSON](t, jsonRequest(t, "PATCH", trunks+"/"+tr.ID, root, `{"mediaEncryption":"none"}`))
	if tr.MediaEncryption != "none" {
		t.Fatalf("patched trunk %q", tr.MediaEncryption)
	}
}
