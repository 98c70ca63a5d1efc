package app

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"golang.org/x/time/rate"

	"switchboard/internal/audio"
	"switchboard/internal/chat"
	"switchboard/internal/contact"
	"switchboard/internal/room"
	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
)

// Telephone callers in contact-centre queues (docs/contact.md, "Calls to a
// queue's number"). A call over a trunk to a number whose target is a
// queue becomes a voice contact there (contact.ArrivePhone). The caller is
// answered and hears a waiting sound we make (G.711) while in line. When
// an agent accepts, their console calls in the contact's conversation as
// for any voice contact; messaging asks us for the telephone behind it
// (chat.ContactPhones) and we connect the waiting line to that call: a
// G.711 room of two (an SFU room: phones join SFU rooms), the line bridged
// into it, and the agent's devices sent there (chat.PhoneAnswered). The
// agent hanging up hangs up the line; the caller hanging up is the visitor
// leaving. A transfer to a colleague or another queue puts the caller back
// to the waiting sound until the next agent's call takes the line.
//
// A callback contact with a number (a phone caller whose queue overflowed
// to a callback, or a website visitor who gave one) is called back the
// same way, except that the number is dialled out through a trunk (the
// gateway's usual outbound path, sipPhones.DialPhone).

// queueLines are the telephone callers of queues now, by contact id.
type queueLines struct {
	mu sync.Mutex
	m  map[string]*queueLine
	// dialled: per number, when it was last called back; budget: every
	// callback within the hour (callback limits).
	dialled map[string][]time.Time
	budget  []time.Time
	trunks  map[string]*rate.Limiter // calls to queues, per trunk id
	// callbacks: the chat call calling a callback contact back, by contact id.
	callbacks map[string]string
	gen       atomic.Int64 // connection generations (queueLine.gen)
}

// queueLine is one telephone caller's leg while their contact is open.
type queueLine struct {
	a       *App
	contact string
	call    *sip.Call
	log     *slog.Logger
	ready   chan struct{} // closed once answered (rs set) or given up
	rs      *sip.RTPSession

	handler atomic.Pointer[func(*rtp.Packet)] // the bridge's, while connected

	mu       sync.Mutex
	gen      int                 // which connection owns the media (0: none)
	part     *bridge.Participant // the line in the agent call's room
	room     string
	chatCall string
	hanging  bool // hanging up: the tone then BYE
	dead     bool // the call ended: nothing connects any more
}

// Waiting and closing sounds.
var (
	// waitTone: a soft two-note chime every four seconds.
	waitTone = []bridge.Tone{{Freqs: []float64{523.25}, Dur: 400 * time.Millisecond}, {Freqs: []float64{659.25}, Dur: 600 * time.Millisecond},
		{Dur: 3 * time.Second}}
	// byeTone: three falling notes before a caller is hung up on (a
	// callback is booked, or the line is full or closed).
	byeTone = []bridge.Tone{{Freqs: []float64{784}, Dur: 250 * time.Millisecond}, {Freqs: []float64{659.25}, Dur: 250 * time.Millisecond},
		{Freqs: []float64{523.25}, Dur: 500 * time.Millisecond}, {Dur: 300 * time.Millisecond}}
)

// tonePayloads renders tones as 20 ms G.711 payloads (law: PCMU or PCMA).
func tonePayloads(law audio.Law, tones []bridge.Tone) [][]byte {
	var pcm []int16
	for _, t := range tones {
		n := int(t.Dur * audio.PhoneRate / time.Second)
		part := make([]int16, n)
		for _, f := range t.Freqs {
			for i := range n {
				// Faded in and out over 20 ms: no clicks.
				env := math.Min(1, math.Min(float64(i), float64(n-i))/160)
				part[i] += int16(0.12 / float64(len(t.Freqs)) * 32767 * env * math.Sin(2*math.Pi*f*float64(i)/audio.PhoneRate))
			}
		}
		pcm = append(pcm, part...)
	}
	var out [][]byte
	for i := 0; i+160 <= len(pcm); i += 160 {
		out = append(out, audio.EncodeG711(law, nil, pcm[i:i+160]))
	}
	return out
}

// routeQueueCall puts a call to a queue's number in line (routeTrunkCall's
// queue case); from is the caller's number (E.164 when it reads as one).
func (a *App) routeQueueCall(c *sip.Call, queue, from string, log *slog.Logger) {
	if a.contact == nil {
		log.Info("sip: call to a queue refused: customer contact is off")
		c.Reject(480, "Temporarily Unavailable")
		return
	}
	if !a.lines.allowArrival(c.Trunk) {
		log.Warn("sip: call to a queue refused: too many calls to queues over this trunk (a flood?)", "trunk", c.Trunk)
		c.Reject(486, "Busy Here")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, outcome, err := a.contact.ArrivePhone(ctx, contact.PhoneArrival{Queue: queue, Number: from, Name: c.CallerName})
	log = log.With("contact", id, "outcome", outcome)
	switch {
	case err != nil:
		log.Warn("sip: call to a queue refused: the number's queue cannot take it (check the number's target)", "err", err)
		c.Reject(480, "Temporarily Unavailable")
		return
	case outcome == contact.PhoneClosed:
		log.Info("sip: call to a queue refused: the queue is closed")
		c.Reject(480, "Temporarily Unavailable")
		return
	case outcome == contact.PhoneNoCallback:
		log.Info("sip: call to a queue refused: the queue books callbacks now, and this caller cannot be called back (no number, or one no trunk may call)")
		c.Reject(480, "Temporarily Unavailable")
		return
	case outcome == contact.PhoneBusy:
		log.Info("sip: call to a queue refused: the line is full, or the caller is in line already")
		c.Reject(486, "Busy Here")
		return
	}
	l := &queueLine{a: a, contact: id, call: c, log: log, ready: make(chan struct{})}
	if outcome == contact.PhoneCallback {
		l.hanging = true
	}
	a.lines.add(l)
	defer a.lines.remove(id, l)
	rs, err := c.Answer()
	if err != nil {
		close(l.ready)
		log.Info("sip: queue call could not be answered", "err", err)
		a.contact.PhoneGone(context.Background(), id)
		return
	}
	l.rs = rs
	rs.Start(func(p *rtp.Packet) {
		if f := l.handler.Load(); f != nil {
			(*f)(p)
		}
	})
	close(l.ready)
	if outcome == contact.PhoneCallback {
		log.Info("sip: queue call answered: the queue books a callback; the caller is told by a tone")
	} else {
		log.Info("sip: queue call answered: the caller waits in line")
	}
	go l.play()
	<-c.Done()
	log.Info("sip: queue call ended", "reason", c.EndReason())
	l.mu.Lock()
	l.dead = true
	l.mu.Unlock()
	if callID := l.disconnect(0); callID != "" {
		a.phoneEnded(callID, c) // the agent's call ends with it
	}
	a.contact.PhoneGone(context.Background(), id)
}

// play sends the waiting sound while the line is not connected to an
// agent's call, and the closing tone then BYE when it is hung up on.
func (l *queueLine) play() {
	var wait, bye [][]byte
	if law, err := audio.LawOf(l.call.Codec.Name); err == nil {
		wait, bye = tonePayloads(law, waitTone), tonePayloads(law, byeTone)
	} else {
		// (Calls in are answered in G.711 alone; were it G.722, we have no encoder.)
		l.log.Debug("sip: no waiting sound for this codec", "codec", l.call.Codec.Name)
	}
	var b [4]byte
	rand.Read(b[:])
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: l.call.Codec.PayloadType, SSRC: binary.BigEndian.Uint32(b[:]), Marker: true}}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	i, j := 0, 0
	for {
		select {
		case <-l.call.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		connected, hanging := l.gen != 0 && l.part != nil, l.hanging
		l.mu.Unlock()
		switch {
		case hanging:
			if j >= len(bye) {
				l.call.Hangup()
				return
			}
			pkt.Payload = bye[j]
			j++
		case connected || len(wait) == 0:
			continue
		default:
			pkt.Payload = wait[i%len(wait)]
			i++
		}
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		l.rs.WriteRTP(&pkt)
		pkt.Marker = false
	}
}

// lineLink is what connects a line to an agent's call.
type lineLink struct {
	part     *bridge.Participant
	room     string
	chatCall string
}

// disconnect takes the line out of the agent's call (their room), back to
// waiting, when connection gen still has it (0: whichever has it). It
// returns the chat call it was connected to.
func (l *queueLine) disconnect(gen int) string {
	l.mu.Lock()
	if gen != 0 && l.gen != gen {
		l.mu.Unlock()
		return ""
	}
	old := l.takeLocked(0, lineLink{})
	l.mu.Unlock()
	l.release(old, true)
	return old.chatCall
}

// takeLocked gives the line to connection gen (0: none) and returns what
// had it; l.mu is held.
func (l *queueLine) takeLocked(gen int, to lineLink) lineLink {
	old := lineLink{part: l.part, room: l.room, chatCall: l.chatCall}
	l.gen, l.part, l.room, l.chatCall = gen, to.part, to.room, to.chatCall
	l.handler.Store(nil)
	return old
}

// release takes down what connected the line to an agent's call. A
// caller that agent put on hold is taken off it (the next agent's
// participant starts unmuted, but a phone held sendonly would not send).
func (l *queueLine) release(old lineLink, resume bool) {
	if old.part != nil {
		old.part.Leave("hangup")
		l.mu.Lock()
		dead := l.dead
		l.mu.Unlock()
		if byUs, _ := l.call.Held(); byUs && resume && !dead {
			if err := l.call.Resume(); err != nil {
				l.log.Info("sip: the queue caller could not be taken off hold", "err", err)
			}
		}
	}
	l.deleteRoom(old.room)
}

func (l *queueLine) deleteRoom(id string) {
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	l.a.registry.Delete(ctx, id)
	cancel()
}

// connect bridges the line into a new room of two for the agent's chat
// call callID and sends the agent's devices there. A line connected to
// another call (the agent reloaded, a colleague took over) leaves it
// first; a line being connected to another call at this moment (a double
// click, two tabs) refuses.
func (l *queueLine) connect(callID, name string) error {
	select {
	case <-l.ready:
	case <-time.After(10 * time.Second):
		return errors.New("the caller's line was not answered")
	}
	if l.rs == nil {
		return sip.ErrCallEnded
	}
	a := l.a
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := a.registry.Create(ctx, room.Settings{AudioCodec: roomCodec(l.call.Codec), MaxParticipants: 2})
	if err != nil {
		return err
	}
	// Claim the line, taking what had it in the same step.
	gen := int(a.lines.gen.Add(1))
	l.mu.Lock()
	var claimErr error
	switch {
	case l.dead:
		claimErr = sip.ErrCallEnded
	case l.gen != 0 && l.part == nil: // (connecting)
		claimErr = errLineConnecting
	}
	var old lineLink
	if claimErr == nil {
		old = l.takeLocked(gen, lineLink{room: r.ID(), chatCall: callID})
	}
	l.mu.Unlock()
	if claimErr != nil {
		l.deleteRoom(r.ID())
		return claimErr
	}
	l.release(old, true)
	if old.chatCall != "" {
		a.chat.EndPhoneCallWith(old.chatCall, chat.PhoneHangup)
	}
	p, err := bridge.Join(r, lineMedia{l: l, gen: gen}, l.call.Codec, dtmfType(l.call.Offer), name, a.media, a.log,
		func(string) { l.hangup(gen) })
	if err != nil {
		if l.disconnect(gen) == "" {
			l.deleteRoom(r.ID()) // (taken meanwhile: the taker did not know this room)
		}
		return err
	}
	p.OnKey(func(e sip.DTMFEvent) { go a.chat.PhoneKey(callID, e.Digit) })
	l.mu.Lock()
	current := l.gen == gen
	if current {
		l.part = p
	}
	l.mu.Unlock()
	if !current {
		p.Leave("hangup")
		l.deleteRoom(r.ID())
		return sip.ErrCallEnded
	}
	a.controlPhone(callID, l.call, p, l.call.Trunk)
	if !a.chat.PhoneAnswered(callID, r.ID()) {
		l.disconnect(gen)
		return sip.ErrCallEnded
	}
	l.log.Info("sip: queue caller connected to the agent's call", "chat_call", callID, "room", r.ID())
	return nil
}

// connecting tells whether a call is taking the line now.
func (l *queueLine) connecting() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen != 0 && l.part == nil
}

// errLineConnecting: another call of the agent's is taking the line now.
var errLineConnecting = errors.New("the caller is being connected to another call")

// hangup ends the line when connection gen still owns it (the agent hung
// up, or the room closed).
func (l *queueLine) hangup(gen int) {
	l.mu.Lock()
	current := l.gen == gen
	l.mu.Unlock()
	if current {
		l.call.Hangup()
	}
}

// disconnectCall disconnects the line when chat call callID has it, and
// tells whether it had.
func (l *queueLine) disconnectCall(callID string) bool {
	l.mu.Lock()
	if l.chatCall != callID {
		l.mu.Unlock()
		return false
	}
	old := l.takeLocked(0, lineLink{})
	l.mu.Unlock()
	l.release(old, false) // (hung up next)
	return true
}

// lineMedia is the line's media as one connection's bridge sees it: once
// another connection took the line, it neither reads nor writes.
type lineMedia struct {
	l   *queueLine
	gen int
}

func (m lineMedia) current() bool {
	m.l.mu.Lock()
	defer m.l.mu.Unlock()
	return m.l.gen == m.gen
}

func (m lineMedia) Start(f func(*rtp.Packet)) {
	if m.current() {
		m.l.handler.Store(&f)
	}
}

func (m lineMedia) WriteRTP(p *rtp.Packet) error {
	if !m.current() {
		return nil
	}
	return m.l.rs.WriteRTP(p)
}

func (m lineMedia) CountKeys(in bool, n int) { m.l.rs.CountKeys(in, n) }

func (m lineMedia) OnSignalledKey(f func(sip.DTMFEvent)) {
	if m.current() {
		m.l.rs.OnSignalledKey(f)
	}
}

// Calls to queues over one trunk: callers' numbers and names are theirs to
// send (and anonymous callers have none), so a flood is bounded by the
// trunk it comes over: queueCallsPerTrunk a minute, in bursts of as many.
const queueCallsPerTrunk = 60

// allowArrival counts a call to a queue over trunk, false past the limit.
func (ls *queueLines) allowArrival(trunk string) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.trunks == nil {
		ls.trunks = map[string]*rate.Limiter{}
	}
	lim := ls.trunks[trunk]
	if lim == nil {
		lim = rate.NewLimiter(rate.Every(time.Minute/queueCallsPerTrunk), queueCallsPerTrunk)
		ls.trunks[trunk] = lim
	}
	return lim.Allow()
}

func (ls *queueLines) add(l *queueLine) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.m == nil {
		ls.m = map[string]*queueLine{}
	}
	ls.m[l.contact] = l
}

func (ls *queueLines) remove(id string, l *queueLine) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.m[id] == l {
		delete(ls.m, id)
	}
}

// callbackEnded notes that chat call callID no longer calls contact id.
func (ls *queueLines) callbackEnded(id, callID string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.callbacks[id] == callID {
		delete(ls.callbacks, id)
	}
}

// calledBack notes that chat call callID calls contact id back by phone,
// unless another call that is still live (live) does already.
func (ls *queueLines) calledBack(id, callID string, live func(string) bool) bool {
	ls.mu.Lock()
	prev := ls.callbacks[id]
	ls.mu.Unlock()
	if prev != "" && live(prev) { // (asked outside ls.mu: messaging's lock is its own)
		return false
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.callbacks[id] != prev {
		return false // another call took it meanwhile
	}
	if ls.callbacks == nil {
		ls.callbacks = map[string]string{}
	}
	ls.callbacks[id] = callID
	return true
}

// callbackCall is the chat call calling contact id back, "" for none.
func (ls *queueLines) callbackCall(id string) string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.callbacks[id]
}

func (ls *queueLines) get(id string) *queueLine {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.m[id]
}

// queuePhones is customer contact's contact.Phones: it is called with the
// contact service's lock held, so the work runs in the background.
type queuePhones struct{ a *App }

// Release puts the caller back to waiting: the agent's call with them ends
// (a callback's call through a trunk too).
func (q queuePhones) Release(id string) {
	q.releaseCallback(id)
	if l := q.a.lines.get(id); l != nil {
		go func() {
			if old := l.disconnect(0); old != "" {
				l.log.Info("sip: queue caller waits again (transfer or requeue)", "chat_call", old)
				q.a.chat.EndPhoneCallWith(old, chat.PhoneHangup)
			}
		}()
	}
}

// Release of a callback by phone: the agent's call with the number
// ends (the colleague calls again if they choose to).
func (q queuePhones) releaseCallback(id string) {
	if callID := q.a.lines.callbackCall(id); callID != "" {
		go q.a.chat.EndPhoneCallWith(callID, chat.PhoneHangup)
	}
}

// Dialable tells whether a callback could call number: the gateway is on,
// sip.dial_prefixes allow it and a trunk takes it.
func (q queuePhones) Dialable(number string) bool {
	a := q.a
	if a.sip == nil || a.sip.srv == nil || !dialAllowed(a.cfg.SIP.DialPrefixes, number) {
		return false
	}
	_, ok := sip.ChooseTrunk(a.sip.srv.Trunks(), number)
	return ok
}

// Hangup hangs up on the caller, after the closing tone when tone is set.
func (q queuePhones) Hangup(id string, tone bool) {
	l := q.a.lines.get(id)
	if l == nil {
		return
	}
	if !tone {
		go l.call.Hangup()
		return
	}
	l.mu.Lock()
	l.hanging = true
	l.mu.Unlock()
	go func() {
		if old := l.disconnect(0); old != "" {
			q.a.chat.EndPhoneCallWith(old, chat.PhoneHangup)
		}
	}()
}

// contactPhones is messaging's chat.ContactPhones: the telephone behind a
// customer contact that an agent calls.
type contactPhones struct{ a *App }

// Callback limits: how often one number may be called back, and how
// many callbacks the whole server places within an hour (toll fraud: the
// numbers come from visitors).
const (
	maxCallbackDials = 3
	callbackWindow   = 10 * time.Minute
	callbackBudget   = 60 // per hour, all numbers
)

func (p contactPhones) ContactPhone(ctx context.Context, agent chat.Identity, conv string) (chat.Phone, bool, error) {
	a := p.a
	if a.contact == nil {
		return chat.Phone{}, false, nil
	}
	pc, ok := a.contact.PhoneFor(agent.UserID, conv)
	if !ok {
		return chat.Phone{}, false, nil
	}
	if pc.OnLine {
		if l := a.lines.get(pc.ID); l != nil && l.connecting() {
			return chat.Phone{}, true, errLineConnecting // (connect refuses too: this says it at once)
		}
		return chat.Phone{Extension: firstNonEmpty(pc.Number, "anonymous"), Name: pc.Name, Label: pc.Name, Contact: pc.ID}, true, nil
	}
	// A callback: the number is dialled through a trunk.
	if a.sip == nil || a.sip.srv == nil {
		return chat.Phone{}, true, errors.New("the telephone gateway is off: call the visitor back another way")
	}
	if !dialAllowed(a.cfg.SIP.DialPrefixes, pc.Number) {
		return chat.Phone{}, true, fmt.Errorf("%s is outside the numbers this server may call (sip.dial_prefixes)", pc.Number)
	}
	if prev := a.lines.callbackCall(pc.ID); prev != "" && a.chat.PhoneCallLive(prev) {
		return chat.Phone{}, true, fmt.Errorf("%s is being called for this contact already", pc.Number)
	}
	ph, err := sipPhones{a}.findNumber(agent, pc.Number, true)
	if err != nil {
		return chat.Phone{}, true, fmt.Errorf("no trunk can call %s", pc.Number)
	}
	if err := a.lines.dial(pc.Number, time.Now()); err != nil {
		return chat.Phone{}, true, err
	}
	ph.Name, ph.Label, ph.Contact = pc.Name, pc.Name, pc.ID
	a.log.Info("contact: calling a visitor back by phone", "contact", pc.ID, "agent", agent.Username, "trunk", ph.Trunk)
	return ph, true, nil
}

// checkCallbackPhone is customer contact's CheckPhone: the E.164 number a
// visitor asking for a callback gave, when sip.callback_prefixes allows it
// (without them, none: anyone can type a number), sip.dial_prefixes too,
// a trunk can call it and it was not called back a moment ago. The errors
// are for the visitor.
func (a *App) checkCallbackPhone(number string) (string, error) {
	if !a.canCallBack() {
		return "", errors.New("we cannot call telephones from here")
	}
	num, err := a.numberPlan().Normalize(number)
	if err != nil {
		return "", fmt.Errorf("%q does not read as a telephone number: write it in international form, like +44 20 7946 0000", number)
	}
	if _, ok := sip.ChooseTrunk(a.sip.srv.Trunks(), num); !ok || !dialAllowed(a.cfg.SIP.CallbackPrefixes, num) || !dialAllowed(a.cfg.SIP.DialPrefixes, num) {
		return "", fmt.Errorf("we cannot call %s from here", num)
	}
	if a.lines.dialledRecently(num, time.Now()) {
		return "", fmt.Errorf("we called %s a moment ago: try again later", num)
	}
	return num, nil
}

// canCallBack is customer contact's CanCallBack: visitors may give a
// number when sip.callback_prefixes are set and a trunk can call out.
func (a *App) canCallBack() bool {
	return len(a.cfg.SIP.CallbackPrefixes) > 0 && a.sip != nil && a.sip.srv != nil && len(a.sip.srv.Trunks()) > 0
}

// dial counts a callback to number, refusing more than maxCallbackDials
// to it within callbackWindow, or more than callbackBudget in all within
// an hour.
func (ls *queueLines) dial(number string, now time.Time) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.dialled == nil {
		ls.dialled = map[string][]time.Time{}
	}
	ls.budget = slices.DeleteFunc(ls.budget, func(t time.Time) bool { return now.Sub(t) >= time.Hour })
	if len(ls.budget) >= callbackBudget {
		return fmt.Errorf("%w: this server placed %d callbacks by phone within the hour, its most; try again later", chat.ErrTooManyCalls, len(ls.budget))
	}
	recent := ls.recentLocked(number, now)
	if len(recent) >= maxCallbackDials {
		return fmt.Errorf("%w: %s was called %d times within %v; try again later", chat.ErrTooManyCalls, number, len(recent), callbackWindow)
	}
	ls.dialled[number] = append(recent, now)
	ls.budget = append(ls.budget, now)
	for k, ts := range ls.dialled { // forget numbers not dialled for a while
		if now.Sub(ts[len(ts)-1]) >= callbackWindow {
			delete(ls.dialled, k)
		}
	}
	return nil
}

// dialledRecently tells whether number was called back within callbackWindow.
func (ls *queueLines) dialledRecently(number string, now time.Time) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.recentLocked(number, now)) > 0
}

func (ls *queueLines) recentLocked(number string, now time.Time) []time.Time {
	var recent []time.Time
	for _, t := range ls.dialled[number] {
		if now.Sub(t) < callbackWindow {
			recent = append(recent, t)
		}
	}
	return recent
}

func (p contactPhones) ConnectPhone(callID string, agent chat.Identity, ph chat.Phone) func(reason string) {
	a := p.a
	if ph.Trunk != "" { // a callback through a trunk
		if !a.lines.calledBack(ph.Contact, callID, a.chat.PhoneCallLive) {
			// Two calls at once (a double click, two tabs): one dials.
			a.chat.EndPhoneCallWith(callID, chat.PhoneBusy)
			return func(string) {}
		}
		hangup := sipPhones{a}.DialPhone(callID, agent, ph)
		return func(reason string) {
			a.lines.callbackEnded(ph.Contact, callID)
			hangup(reason)
		}
	}
	var (
		mu sync.Mutex
		l  *queueLine
	)
	go func() {
		// The line is kept once ArrivePhone has answered: an agent quicker
		// than that (in theory) waits a moment for it.
		line := a.lines.get(ph.Contact)
		for i := 0; line == nil && i < 20; i++ {
			time.Sleep(100 * time.Millisecond)
			line = a.lines.get(ph.Contact)
		}
		if line == nil {
			a.chat.EndPhoneCallWith(callID, chat.PhoneFailed)
			return
		}
		mu.Lock()
		l = line
		mu.Unlock()
		if err := l.connect(callID, ph.Name); err != nil {
			l.log.Info("sip: queue caller could not be connected", "chat_call", callID, "err", err)
			a.chat.EndPhoneCallWith(callID, chat.PhoneFailed)
		}
	}()
	// The call ending here (the agent hung up): hang up on the caller,
	// unless another call has the line by now.
	return func(string) {
		mu.Lock()
		line := l
		mu.Unlock()
		if line == nil {
			return // not connected: connect finds the call ended
		}
		if line.disconnectCall(callID) {
			line.call.Hangup()
		}
	}
}
