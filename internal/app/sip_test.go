package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"switchboard/internal/config"
	"switchboard/internal/store"
)

// admin creates an admin with an API token.
func admin(t *testing.T, a *App, id string) string {
	t.Helper()
	ctx := context.Background()
	if err := a.store.CreateUser(ctx, store.User{ID: id, Username: id, DisplayName: id, Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	tok, err := a.accounts.CreateToken(ctx, id, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func startSIPServer(t *testing.T, edit func(*config.Config)) *App {
	return startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
		if edit != nil {
			edit(c)
		}
	})
}

// sipPhone registers over UDP with sipgo's client, as a softphone would.
type sipPhone struct {
	t      *testing.T
	ua     *sipgo.UserAgent
	client *sipgo.Client
	server string // host:port of our SIP server
}

func newSIPPhone(t *testing.T, a *App) *sipPhone {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	c, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	return &sipPhone{t: t, ua: ua, client: c, server: a.SIPAddrs().UDP.String()}
}

// register sends a REGISTER for user with password and returns the final status.
func (p *sipPhone) register(user, password string) int {
	p.t.Helper()
	code := p.registerCode(user, password)
	if code == 0 {
		p.t.Fatalf("register %s: no answer", user)
	}
	return code
}

func decodeJSON[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func jsonRequest(t *testing.T, method, url, token, body string) *http.Response {
	t.Helper()
	return send(t, method, url, http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + token}}, body)
}

// An admin manages SIP accounts over REST: a phone registers with the
// password set there, shows up in the account, and is unregistered (and
// refused) once the account is disabled, gets a new password or is deleted.
func TestSIPAccountsAPI(t *testing.T) {
	a := startSIPServer(t, nil)
	root := admin(t, a, "root")
	bob := member(t, a, "bob")
	api := a.URL() + "/api/v1/sip/accounts"

	if resp := jsonRequest(t, "GET", api, bob, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a member listed SIP accounts: %d", resp.StatusCode)
	}
	for _, bad := range []string{
		`{"username":"a b","password":"long enough"}`,
		`{"username":"101","password":"short"}`,
		`{"username":"101","password":"long enough","displayName":"x\"y"}`,
		`{"username":"101","password":"long enough","userId":"nobody"}`,
		`{"username":"101","password":"long enough","ha1":"x"}`,
	} {
		if resp := jsonRequest(t, "POST", api, root, bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	resp := jsonRequest(t, "POST", api, root, `{"username":"101","displayName":"Front desk","userId":"bob","password":"front desk secret"}`)
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	acct := decodeJSON[sipAccountJSON](t, resp)
	if acct.Username != "101" || acct.UserID != "bob" || !acct.Enabled || acct.Password != "" || acct.NeedsPassword {
		t.Fatalf("created %+v", acct)
	}
	stored, _ := a.store.SIPAccount(context.Background(), acct.ID)
	if stored.Realm != "pbx.test" || stored.HA1MD5 == "" || strings.Contains(fmt.Sprint(stored), "front desk secret") {
		t.Fatalf("stored %+v", stored)
	}
	if resp := jsonRequest(t, "POST", api, root, `{"username":"101","password":"another secret"}`); resp.StatusCode != http.StatusConflict {
		t.Errorf("duplicate: %d", resp.StatusCode)
	}
	// Without a password one is generated and shown once.
	gen := decodeJSON[sipAccountJSON](t, jsonRequest(t, "POST", api, root, `{"username":"102"}`))
	if len(gen.Password) != 20 {
		t.Fatalf("generated password %q", gen.Password)
	}

	phone := newSIPPhone(t, a)
	if code := phone.register("101", "wrong password"); code != 403 {
		t.Fatalf("wrong password: %d", code)
	}
	if code := phone.register("101", "front desk secret"); code != 200 {
		t.Fatalf("register: %d", code)
	}
	if code := phone.register("102", gen.Password); code != 200 {
		t.Fatalf("register with the generated password: %d", code)
	}
	got := decodeJSON[sipAccountJSON](t, jsonRequest(t, "GET", api+"/"+acct.ID, root, ""))
	if len(got.Registrations) != 1 || got.Registrations[0].Transport != "UDP" || !strings.Contains(got.Registrations[0].Contact, "5099") {
		t.Fatalf("registrations %+v", got.Registrations)
	}
	list := decodeJSON[struct{ Accounts []sipAccountJSON }](t, jsonRequest(t, "GET", api, root, ""))
	if len(list.Accounts) != 2 || list.Accounts[0].Username != "101" {
		t.Fatalf("list %+v", list)
	}
	status := decodeJSON[map[string]any](t, jsonRequest(t, "GET", a.URL()+"/api/v1/sip", root, ""))
	if status["enabled"] != true || status["realm"] != "pbx.test" || status["registrations"] != 2.0 {
		t.Fatalf("status %v", status)
	}

	// Disabled: the binding goes at once and the phone is refused.
	got = decodeJSON[sipAccountJSON](t, jsonRequest(t, "PATCH", api+"/"+acct.ID, root, `{"enabled":false,"displayName":"Lobby","userId":""}`))
	if got.Enabled || got.DisplayName != "Lobby" || got.UserID != "" || len(got.Registrations) != 0 {
		t.Fatalf("after disabling %+v", got)
	}
	if code := phone.register("101", "front desk secret"); code != 403 {
		t.Fatalf("disabled account registered: %d", code)
	}
	jsonRequest(t, "PATCH", api+"/"+acct.ID, root, `{"enabled":true}`)

	// A new password: the old one stops working, the binding is dropped.
	if code := phone.register("101", "front desk secret"); code != 200 {
		t.Fatalf("re-enabled: %d", code)
	}
	if resp := jsonRequest(t, "POST", api+"/"+acct.ID+"/password", root, `{"password":"x"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("short password: %d", resp.StatusCode)
	}
	got = decodeJSON[sipAccountJSON](t, jsonRequest(t, "POST", api+"/"+acct.ID+"/password", root, `{}`))
	if len(got.Password) != 20 || len(got.Registrations) != 0 {
		t.Fatalf("new password %+v", got)
	}
	if code := phone.register("101", "front desk secret"); code != 403 {
		t.Fatalf("old password still works: %d", code)
	}
	if code := phone.register("101", got.Password); code != 200 {
		t.Fatalf("new password: %d", code)
	}

	// Deleted: gone from the registrar too.
	if resp := jsonRequest(t, "DELETE", api+"/"+acct.ID, root, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if len(a.sip.srv.Bindings("101")) != 0 {
		t.Fatal("deleted account still registered")
	}
	if resp := jsonRequest(t, "GET", api+"/"+acct.ID, root, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted account: %d", resp.StatusCode)
	}

	metrics := send(t, "GET", a.URL()+"/metrics", nil, "")
	body, _ := io.ReadAll(metrics.Body)
	for _, want := range []string{"switchboard_sip_registrations 1", "switchboard_sip_auth_failures_total 3", "switchboard_sip_registers_total 4"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// An address blocked after failed attempts is let in again by an admin.
func TestSIPUnblock(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.AuthFailuresPerIP = 1 })
	root := admin(t, a, "root")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"200","password":"right password"}`)
	phone := newSIPPhone(t, a)
	// Failures block the source: from then on it gets no answer at all.
	blocked := false
	for range 3 {
		if phone.registerCode("200", "wrong password") == 0 {
			blocked = true
			break
		}
	}
	if !blocked || !a.sip.srv.Blocked(netip.MustParseAddr("127.0.0.1")) {
		t.Fatal("the source was not blocked")
	}
	blocks := a.URL() + "/api/v1/sip/blocks/"
	if resp := jsonRequest(t, "DELETE", blocks+"not-an-ip", root, ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad ip: %d", resp.StatusCode)
	}
	if resp := jsonRequest(t, "DELETE", blocks+"127.0.0.1", root, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("unblock: %d", resp.StatusCode)
	}
	if resp := jsonRequest(t, "DELETE", blocks+"127.0.0.1", root, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unblock twice: %d", resp.StatusCode)
	}
	if code := phone.register("200", "right password"); code != 200 {
		t.Fatalf("after unblock: %d", code)
	}
}

// registerCode is register returning 0 on a timeout instead of failing the test.
func (p *sipPhone) registerCode(user, password string) int {
	host, port, _ := net.SplitHostPort(p.server)
	var portN int
	fmt.Sscan(port, &portN)
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: portN})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "pbx.test"}})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "pbx.test"}}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(sip.NewHeader("Contact", "<sip:"+user+"@127.0.0.1:5099>"))
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		return 0
	}
	if res.StatusCode == 401 {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: password})
		if err != nil {
			return 0
		}
	}
	return res.StatusCode
}

// SIP over WebSocket is served at /sip on the web server's port.
func TestSIPOverWebSocket(t *testing.T) {
	a := startSIPServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(a.URL(), "http") + "/sip"
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"sip"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "sip" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	opts := "OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK" + sip.GenerateTagN(10) + "\r\n" +
		"Max-Forwards: 70\r\nTo: <sip:pbx.test>\r\nFrom: <sip:probe@pbx.test>;tag=1928301774\r\nCall-ID: a84b4c76e66710\r\n" +
		"CSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if err := c.Write(ctx, websocket.MessageText, []byte(opts)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil || !strings.HasPrefix(string(msg), "SIP/2.0 200") {
		t.Fatalf("OPTIONS over WebSocket: %q, %v", msg, err)
	}
	// Without the subprotocol: refused.
	if _, resp, err := websocket.Dial(ctx, wsURL, nil); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("without subprotocol: %v %v", resp, err)
	}
}

// SIP is optional: when its port is taken, the server does not start and
// says what to change; when it is off, /sip does not exist and the API
// still manages accounts for later.
func TestSIPPortTakenAndOff(t *testing.T) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := config.Local(t.TempDir())
	cfg.SIP.Enabled, cfg.SIP.UDP = true, l.LocalAddr().String()
	_, err = New(context.Background(), cfg, Options{LoopbackOnly: true, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "sip.enabled = false") {
		t.Fatalf("port taken: %v", err)
	}

	off := startServer(t, nil)
	if resp := send(t, "GET", off.URL()+"/sip", nil, ""); resp.StatusCode == http.StatusUpgradeRequired {
		t.Error("/sip served with SIP off")
	}
	root := admin(t, off, "root")
	if resp := jsonRequest(t, "POST", off.URL()+"/api/v1/sip/accounts", root, `{"username":"300","password":"for later use"}`); resp.StatusCode != http.StatusCreated {
		t.Errorf("create with SIP off: %d", resp.StatusCode)
	}
	if resp := jsonRequest(t, "DELETE", off.URL()+"/api/v1/sip/blocks/127.0.0.1", root, ""); resp.StatusCode != http.StatusConflict {
		t.Errorf("unblock with SIP off: %d", resp.StatusCode)
	}
}

// SIP over TLS opens when the web server has a certificate, and shares it.
func TestSIPTLSWithCertificate(t *testing.T) {
	plain := startSIPServer(t, nil)
	if plain.SIPAddrs().TLS != nil {
		t.Fatal("SIP TLS listening without a certificate")
	}
	a := startSIPServer(t, func(c *config.Config) { c.TLS.SelfSigned = true })
	addr := a.SIPAddrs().TLS
	if addr == nil {
		t.Fatal("no SIP TLS listener with a self-signed certificate")
	}
	conn, err := tls.Dial("tcp", addr.String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

// invite calls target from user's phone and returns the final status.
func (p *sipPhone) invite(user, password, target string) int {
	p.t.Helper()
	host, port, _ := net.SplitHostPort(p.server)
	var portN int
	fmt.Sscan(port, &portN)
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\n"
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: target, Host: host, Port: portN})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "pbx.test"}}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(sip.NewHeader("Contact", "<sip:"+user+"@127.0.0.1:5099>"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte(sdp))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: password})
	}
	if err != nil {
		p.t.Fatalf("invite %s: %v", target, err)
	}
	return res.StatusCode
}

// A phone's call names a user (any case) or an extension; nothing matching
// is 404. A phone linked to no user cannot ring anyone: a match is 480; its
// own extension is busy (486).
func TestSIPCallRouting(t *testing.T) {
	a := startSIPServer(t, nil)
	root := admin(t, a, "root")
	member(t, a, "bob")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"100","password":"phone 100 secret"}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"101","password":"phone 101 secret","userId":"bob"}`)
	phone := newSIPPhone(t, a)
	for target, want := range map[string]int{"nobody": 404, "100": 486, "bob": 480, "Bob": 480, "101": 480} {
		if code := phone.invite("100", "phone 100 secret", target); code != want {
			t.Errorf("call to %s: %d, want %d", target, code, want)
		}
	}
	if code := phone.invite("100", "wrong password", "bob"); code != 403 {
		t.Errorf("call with a wrong password: %d", code)
	}
}
