package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"switchboard/internal/config"
)

// A desk phone transfers the call it is in with a browser user: Ann calls
// the front desk (sipp, extension 200) from the dialer; the front desk
// answers, then transfers her to Carl's desk phone (sipp, extension 300)
// with a REFER and checks the NOTIFYs (100, 180, 200) and takes our BYE.
// Carl's phone rings in Ann's name and answers; Ann's call goes on in the
// same room: the dialer names Carl's phone, and she hears it. Her hang-up
// reaches Carl's phone.
func TestPhoneTransfersDialerCall(t *testing.T) {
	sipp, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	createUser(t, srv, "ann", "Ann", "member")
	ben := createUser(t, srv, "ben", "Ben", "member")
	carl := createUser(t, srv, "carl", "Carl", "member")
	ctx, cancel := context.WithTimeout(context.Background(), scaled(90*time.Second))
	defer cancel()
	carlPhone := startDeskPhoneWith(t, ctx, srv, sipp, dir, "pbx.test", "300", "Carl desk", "carl desk phone", carl.ID,
		"uas_answer_pcma_audio.xml")
	front := startDeskPhoneWith(t, ctx, srv, sipp, dir, "pbx.test", "200", "Front desk", "front desk phone", ben.ID,
		"uas_answer_refer.xml")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the front desk's sipp:\n%s", tail(front.out.String(), 4<<10))
		}
	})

	b := newBrowser(t, "Ann")
	b.signIn(srv.URL, "ann")
	b.navigate(srv.URL + "/phone")
	b.waitJS(10*time.Second, "the dialer", `!!document.querySelector('[data-testid="dialer"]') && !!window.__sbPhonePage`)
	b.typeInto("dial-number", "200")
	b.click("dial-call")
	b.waitJS(20*time.Second, "the call connected", `document.querySelector('[data-testid="in-call-state"]')?.dataset.state === 'active'`)
	callID := mustEval[string](b, `window.__sbPhonePage.call.id`)

	// The front desk transfers Ann to Carl's phone, which answers.
	b.waitJS(30*time.Second, "the new party on the call screen", `document.querySelector('[data-testid="in-call-name"]').textContent === 'Carl desk (300)'`)
	front.waitBye(t, ctx) // it checked 100, 180 and 200 in its NOTIFYs, then took our BYE
	if got := mustEval[string](b, `window.__sbPhonePage.call.id + ' ' + window.__sbPhonePage.call.to + ' ' + window.__sbPhonePage.call.state`); got != callID+" 300 active" {
		t.Errorf("after the transfer the call is %q, want %q", got, callID+" 300 active")
	}
	b.shot("phone-transferred")
	// What she hears now is Carl's phone: a new track in the same room,
	// receiving audio.
	eventually(t, scaled(15*time.Second), "Ann to hear Carl's phone", func() (bool, string) {
		v, err := eval[[]float64](b, playingStats)
		if err != nil || len(v) != 2 {
			return false, fmt.Sprint(err)
		}
		return v[0] >= 40 && v[1] > 0, fmt.Sprintf("packets %v, energy %v; %s", v[0], v[1], mustEval[string](b, `(async () => {
			const call = window.__sbPhonePage.call; const out = [];
			out.push('playing ' + (call.remoteStream && call.remoteStream.getAudioTracks().map((t) => t.id + ':' + t.readyState).join(',')));
			for (const pc of call.room.pcs) { const st = await pc.getStats(); st.forEach((s) => { if (s.type === 'inbound-rtp') out.push(s.trackIdentifier + ' ' + s.ssrc + ' mid ' + s.mid + ' packets ' + s.packetsReceived); }); }
			return out.join('; '); })()`))
	})
	if rooms := mustEval[int](b, `window.__sbPhonePage.call.room ? 1 : 0`); rooms != 1 {
		t.Error("the call left its room")
	}

	// Ann hangs up: Carl's phone gets the BYE.
	b.click("in-call-hangup")
	carlPhone.waitBye(t, ctx)
	b.waitJS(10*time.Second, "the dialer again", `document.querySelector('[data-testid="in-call"]').hidden`)
}

// playingStats is the inbound audio of the track the dialer's call plays
// now (its remoteStream): packets and energy.
const playingStats = `(async () => {
	const call = window.__sbPhonePage && window.__sbPhonePage.call;
	const tr = call && call.remoteStream && call.remoteStream.getAudioTracks()[0];
	if (!tr || !call.room) return [0, 0];
	let packets = 0, energy = 0;
	for (const pc of call.room.pcs) {
		const st = await pc.getStats();
		st.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio' && s.trackIdentifier === tr.id) { packets += s.packetsReceived || 0; energy += s.totalAudioEnergy || 0; } });
	}
	return [packets, energy]; })()`
