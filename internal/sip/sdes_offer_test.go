package sip

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// sdesAnswer is a phone's answer to an SDES offer: RTP/SAVP with key under tag.
func sdesAnswer(port int, tag int, suite string, key []byte) string {
	return fmt.Sprintf("v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/SAVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=crypto:%d %s inline:%s\r\n",
		port, tag, suite, base64.StdEncoding.EncodeToString(key))
}

// sdesAccount sets alice's media_encryption to sdes.
func sdesAccount(h *harness) {
	h.accts.mu.Lock()
	a := h.accts.byKey["alice"]
	a.MediaEncryption = MediaSDES
	h.accts.byKey["alice"] = a
	h.accts.mu.Unlock()
}

// A call to an account whose media_encryption is sdes offers RTP/SAVP
// with our key; the phone answers with its own, and media is encrypted
// both ways: what the phone sends under its key arrives decrypted, what we
// send decrypts with the key of our offer.
func TestSDESOffer(t *testing.T) {
	rec := newRecorder()
	h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0"; c.OnRecord = rec.add })
	sdesAccount(h)
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := p.register("secret", "", p.contact()); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	media := udpSocket(t)
	port := netip.MustParseAddrPort(media.LocalAddr().String()).Port()
	res := dialAsync(t.Context(), h.s, nil)
	inv := p.readRequest("INVITE")
	offer, err := ParseSDP(inv.Body())
	if err != nil || offer.SRTP == nil || offer.SRTP.Suite != "AES_CM_128_HMAC_SHA1_80" || !bytes.Contains(inv.Body(), []byte("RTP/SAVP")) {
		t.Fatalf("offer %+v %v:\n%s", offer.SRTP, err, inv.Body())
	}
	phoneKey := bytes.Repeat([]byte{7}, sdesKeyLen)
	p.reply(inv, 200, "OK", sdesAnswer(int(port), offer.SRTP.Tag, offer.SRTP.Suite, phoneKey))
	p.readRequest("ACK")
	r := waitDial(t, res)
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Hangup()
	enc, _ := srtp.CreateContext(phoneKey[:16], phoneKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	dec, _ := srtp.CreateContext(offer.SRTP.Key[:16], offer.SRTP.Key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)

	got := make(chan []byte, 16)
	r.c.RTP().Start(func(pk *rtp.Packet) { got <- bytes.Clone(pk.Payload) })
	want := bytes.Repeat([]byte{0x42}, 160)
	server := net.UDPAddrFromAddrPort(r.c.RTP().LocalAddr())
	for i := range 5 {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i) * 160, SSRC: 0xabc}, Payload: want}
		b, _ := pkt.Marshal()
		e, err := enc.EncryptRTP(nil, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		media.WriteToUDP(e, server)
	}
	select {
	case pl := <-got:
		if !bytes.Equal(pl, want) {
			t.Fatalf("decrypted payload %x", pl)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("nothing decrypted from the phone")
	}
	ours := bytes.Repeat([]byte{0x24}, 160)
	if err := r.c.RTP().WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 9, SSRC: 5}, Payload: ours}); err != nil {
		t.Fatal(err)
	}
	media.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1500)
	n, err := media.Read(buf)
	if err != nil {
		t.Fatalf("no RTP to the phone: %v", err)
	}
	if bytes.Contains(buf[:n], ours) {
		t.Fatal("our media went in clear")
	}
	plain, err := dec.DecryptRTP(nil, buf[:n], nil)
	if err != nil {
		t.Fatalf("our media does not decrypt with the offer's key: %v", err)
	}
	var pk rtp.Packet
	if err := pk.Unmarshal(plain); err != nil || !bytes.Equal(pk.Payload, ours) {
		t.Fatalf("our packet %v %x", err, pk.Payload)
	}
}

// An answer to our SDES offer without a key (plain RTP/AVP, or SAVP with
// a suite we did not offer) is refused: ACK, BYE, a 488 DialError and a
// record whose cause says why.
func TestSDESOfferAnsweredInClear(t *testing.T) {
	for name, answer := range map[string]string{
		"plain":       answerSDP(40000, 0),
		"other suite": sdesAnswer(40000, 1, "AES_CM_128_HMAC_SHA1_32", bytes.Repeat([]byte{7}, sdesKeyLen)),
		"other tag":   sdesAnswer(40000, 5, "AES_CM_128_HMAC_SHA1_80", bytes.Repeat([]byte{7}, sdesKeyLen)),
	} {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder()
			h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0"; c.OnRecord = rec.add })
			p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
			if r := p.register("secret", "", p.contact()); r.StatusCode != 200 {
				t.Fatalf("register: %d", r.StatusCode)
			}
			out := make(chan dialResult, 1)
			go func() {
				c, err := h.s.Dial(t.Context(), DialRequest{Username: "alice", FromUser: "bob", SRTP: true})
				out <- dialResult{c, err}
			}()
			inv := p.readRequest("INVITE")
			p.reply(inv, 200, "OK", answer)
			p.readRequest("ACK")
			bye := p.readRequest("BYE")
			p.reply(bye, 200, "OK", "")
			r := waitDial(t, out)
			var de *DialError
			if !errors.As(r.err, &de) || de.Status != 488 {
				t.Fatalf("want 488, got %v", r.err)
			}
			if got := rec.next(t); got.Cause != EndNoSRTP {
				t.Errorf("record %+v", got)
			}
			if !bytes.Contains([]byte(h.logs.String()), []byte("without a usable a=crypto key")) {
				t.Error("no log line says why")
			}
		})
	}
}

// When the account's media encryption cannot be read, the call is not
// placed: it might have gone out in clear.
func TestDialAccountUnreadable(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := p.register("secret", "", p.contact()); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	h.accts.mu.Lock()
	h.accts.err = errors.New("database is down")
	h.accts.mu.Unlock()
	_, err := h.s.Dial(t.Context(), DialRequest{Username: "alice", FromUser: "bob"})
	var de *DialError
	if !errors.As(err, &de) || de.Status != 500 {
		t.Fatalf("want 500, got %v", err)
	}
	p.silence(200 * time.Millisecond)
}

// A trunk set to sdes offers SRTP on calls out and takes an answer with a
// key; one set to none offers plain RTP.
func TestTrunkSDESOffer(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "provider")
	// Once the server answers, its UDP listener is up: calls out leave
	// from it (this socket takes only what comes from there).
	p.send(p.request("OPTIONS", "sip:"+testRealm))
	p.expect(200)
	for _, enc := range []string{MediaSDES, MediaNone} {
		h.s.SetTrunks([]Trunk{{ID: "t1", Name: "Provider", Enabled: true, Host: p.local(), Transport: TransportUDP,
			FromDomain: "provider.test", MediaEncryption: enc}})
		out := make(chan dialResult, 1)
		go func() {
			c, err := h.s.DialTrunk(t.Context(), TrunkDialRequest{Trunk: "t1", Number: "+442079460000", FromUser: "ann"})
			out <- dialResult{c, err}
		}()
		m := p.read(5 * time.Second)
		inv, ok := m.(*sip.Request)
		if !ok {
			select {
			case r := <-out:
				t.Fatalf("%s: no INVITE: %v\n%s", enc, r.err, h.logs.String())
			default:
				t.Fatalf("%s: no INVITE, got %v\n%s", enc, m, h.logs.String())
			}
		}
		offer, err := ParseSDP(inv.Body())
		if err != nil {
			t.Fatal(err)
		}
		if (offer.SRTP != nil) != (enc == MediaSDES) {
			t.Fatalf("%s trunk offered:\n%s", enc, inv.Body())
		}
		answer := answerSDP(40000, 0)
		if offer.SRTP != nil {
			answer = sdesAnswer(40000, offer.SRTP.Tag, offer.SRTP.Suite, bytes.Repeat([]byte{3}, sdesKeyLen))
		}
		p.reply(inv, 200, "OK", answer)
		p.readRequest("ACK")
		r := waitDial(t, out)
		if r.err != nil {
			t.Fatalf("%s trunk: %v", enc, r.err)
		}
		r.c.Hangup()
		bye := p.readRequest("BYE")
		p.reply(bye, 200, "OK", "")
		<-r.c.Done()
	}
}

// New offers inside an SDES call: one in clear (or without a usable key)
// is refused 488 and the session stays encrypted; the same key is
// answered with our same key; a new key under a new tag gets a new key of
// ours under that tag, and the phone's media under its new key decrypts.
func TestSDESReoffer(t *testing.T) {
	const suite = "AES_CM_128_HMAC_SHA1_80"
	k1, k2 := bytes.Repeat([]byte{1}, sdesKeyLen), bytes.Repeat([]byte{2}, sdesKeyLen)
	in := answeredOffer(t, nil, func(port uint16) string { return sdesAnswer(int(port), 1, suite, k1) })
	port := int(netip.MustParseAddrPort(in.media.LocalAddr().String()).Port())
	first, err := ParseSDP(in.ok.Body())
	if err != nil || first.SRTP == nil || first.SRTP.Tag != 1 {
		t.Fatalf("our answer %+v %v", first.SRTP, err)
	}
	update := func(offer string) *sip.Response {
		t.Helper()
		in.send("UPDATE", "application/sdp", offer)
		return in.p.readFinal()
	}
	if res := update(offerAt(uint16(port), SendRecv)); res.StatusCode != 488 {
		t.Fatalf("an offer in clear got %d:\n%s", res.StatusCode, res.Body())
	}
	if res := update(sdesAnswer(port, 1, "AES_CM_128_HMAC_SHA1_32_BAD", k1)); res.StatusCode != 488 {
		t.Fatalf("an offer without a usable key got %d", res.StatusCode)
	}
	res := update(sdesAnswer(port, 1, suite, k1))
	same, err := ParseSDP(res.Body())
	if res.StatusCode != 200 || err != nil || !sameSDES(same.SRTP, first.SRTP) {
		t.Fatalf("the same key: %d, our key %+v, was %+v", res.StatusCode, same.SRTP, first.SRTP)
	}
	res = update(sdesAnswer(port, 2, suite, k2))
	next, err := ParseSDP(res.Body())
	if res.StatusCode != 200 || err != nil || next.SRTP == nil || next.SRTP.Tag != 2 || bytes.Equal(next.SRTP.Key, first.SRTP.Key) {
		t.Fatalf("a new key: %d, our key %+v", res.StatusCode, next.SRTP)
	}
	got := make(chan []byte, 16)
	rs := in.c.RTP()
	rs.Start(func(pk *rtp.Packet) { got <- bytes.Clone(pk.Payload) })
	enc, _ := srtp.CreateContext(k2[:16], k2[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	want := bytes.Repeat([]byte{0x42}, 160)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, SSRC: 0xabc}, Payload: want}
	b, _ := pkt.Marshal()
	e, _ := enc.EncryptRTP(nil, b, nil)
	in.media.WriteToUDP(e, net.UDPAddrFromAddrPort(rs.LocalAddr()))
	select {
	case pl := <-got:
		if !bytes.Equal(pl, want) {
			t.Fatalf("payload %x", pl)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("media under the new key did not decrypt")
	}
}
