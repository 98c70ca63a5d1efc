package e2e

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/config"
)

// A browser calls a telephone number out through a trunk. The provider is
// sipp (uas_trunk_answer.xml): it challenges the INVITE (digest with the
// trunk's credentials), rings, answers with PCMA and echoes the RTP it
// receives (-rtp_echo). Ann, signed in, calls "02079460000" (national,
// read with sip.default_country_code 44; the trunk writes it nationally):
// the call connects, Ann hears her own voice come back from the provider
// (packets and audio energy: it went to sipp and back), the server counts
// RTP both ways, Ann hangs up and sipp gets the BYE, ending its scenario.
func TestBrowserCallsNumberThroughTrunk(t *testing.T) {
	sipp, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
		c.SIP.DefaultCountryCode = "44"
	})
	root := createUser(t, srv, "root", "Root", "admin")
	createUser(t, srv, "ann", "Ann", "member")
	ctx, cancel := context.WithTimeout(context.Background(), scaled(90*time.Second))
	defer cancel()

	// The provider waits for the call.
	port := strconv.Itoa(freePort(t, "127.0.0.1"))
	scen, _ := filepath.Abs(filepath.Join("..", "internal", "sip", "testdata", "uas_trunk_answer.xml"))
	cmd := exec.CommandContext(ctx, sipp, "-sf", scen, "-i", "127.0.0.1", "-p", port, "-rtp_echo",
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "127.0.0.1")),
		"-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error")
	cmd.Dir = dir
	sippOut := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = sippOut, sippOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sippDone := make(chan error, 1)
	go func() { sippDone <- cmd.Wait() }()
	time.Sleep(300 * time.Millisecond) // sipp binds its port

	// An admin adds the trunk over REST.
	accounts, err := account.New(account.Config{Store: srv.app.Store()})
	if err != nil {
		t.Fatal(err)
	}
	token, err := accounts.CreateToken(ctx, root.ID, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/sip/trunks", strings.NewReader(`{"name":"Provider",
		"host":"127.0.0.1:`+port+`","username":"trunkuser","password":"trunk secret","fromDomain":"provider.test",
		"outboundPrefixes":["+44"],"numberFormat":"national","maxCalls":2}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create trunk: %d %s", res.StatusCode, body)
	}

	b := newBrowser(t, "Ann")
	b.signIn(srv.URL, "ann")
	b.waitJS(10*time.Second, "the calls module", `!!window.__sbCalls`)
	mustEval[bool](b, `(() => { window.__sbCalls.start({ phone: '02079460000' }, false); return true; })()`)
	b.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)

	// Ann hears her own voice back from the provider: it went out through
	// the trunk and came back.
	eventually(t, scaled(15*time.Second), "Ann to hear the provider", func() (bool, string) {
		st, err := b.inboundStats()
		if err != nil {
			return false, err.Error()
		}
		a := st["+442079460000/microphone"]
		return a.Packets >= 40 && a.AudioEnergy > 0, describeStats(st) + "; " + b.diag()
	})
	eventually(t, scaled(10*time.Second), "RTP both ways at the gateway", func() (bool, string) {
		in, out := metric(t, srv, "switchboard_sip_rtp_packets_in_total"), metric(t, srv, "switchboard_sip_rtp_packets_out_total")
		return in >= 40 && out >= 40, "RTP from the provider " + strconv.FormatFloat(in, 'f', 0, 64) + ", to it " + strconv.FormatFloat(out, 'f', 0, 64)
	})

	// Ann hangs up: the provider gets BYE and its scenario ends.
	b.click("leave")
	select {
	case err := <-sippDone:
		if err != nil {
			t.Fatalf("sipp: %v\n%s", err, tail(sippOut.String(), 4<<10))
		}
	case <-ctx.Done():
		t.Fatalf("sipp did not finish\n%s", tail(sippOut.String(), 4<<10))
	}
	b.waitJS(15*time.Second, "the call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
}
