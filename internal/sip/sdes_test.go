package sip

import (
	"bytes"
	"encoding/base64"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// A desk phone that encrypts its media (SDES-SRTP, RFC 4568): its offer
// carries RTP/SAVP and its key; our answer carries RTP/SAVP, the same
// suite and a key of our own. What the phone sends encrypted with its key
// is decrypted (here echoed back), what we send is encrypted with ours,
// and a packet under a wrong key is dropped before anything else.
func TestSDESCall(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.RTPBindAddr = "127.0.0.1:0"
		c.OnCall = func(call *Call) {
			rs, err := call.Answer()
			if err != nil {
				t.Error(err)
				return
			}
			rs.Start(func(p *rtp.Packet) { rs.WriteRTP(p) }) // an echo
		}
	})
	media, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	phoneKey := bytes.Repeat([]byte{7}, sdesKeyLen)
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(media.LocalAddr().(*net.UDPAddr).Port) + " RTP/SAVP 0\r\n" +
		"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, sdesKeyLen)) + "|2^31|1:1\r\n" + // an MKI: not taken
		"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(phoneKey) + "|2^31\r\n"
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	branch := p.call("bob", "secret", offer)
	res := p.readFinal()
	if res.StatusCode != 200 {
		t.Fatalf("answer %d", res.StatusCode)
	}
	p.ack(branch, 2, res)
	ans, err := ParseSDP(res.Body())
	if err != nil || ans.SRTP == nil || ans.SRTP.Tag != 2 || ans.SRTP.Suite != "AES_CM_128_HMAC_SHA1_80" ||
		bytes.Equal(ans.SRTP.Key, phoneKey) || !strings.Contains(string(res.Body()), "RTP/SAVP") {
		t.Fatalf("answer %+v %v:\n%s", ans.SRTP, err, res.Body())
	}
	enc, err := srtp.CreateContext(phoneKey[:16], phoneKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := srtp.CreateContext(ans.SRTP.Key[:16], ans.SRTP.Key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := srtp.CreateContext(bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 14), srtp.ProtectionProfileAes128CmHmacSha1_80)
	server := net.UDPAddrFromAddrPort(ans.Addr)
	send := func(ctx *srtp.Context, seq uint16, payload []byte) {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0xabc},
			Payload: payload}
		b, _ := pkt.Marshal()
		e, err := ctx.EncryptRTP(nil, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		media.WriteToUDP(e, server)
	}
	// Under a wrong key: dropped, so nothing comes back.
	for i := range 5 {
		send(wrong, uint16(i), bytes.Repeat([]byte{0x55}, 160))
	}
	media.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 1500)
	if n, err := media.Read(buf); err == nil {
		t.Fatalf("an echo of packets under a wrong key (%d bytes)", n)
	}
	// Under the phone's key: echoed, encrypted with ours.
	want := bytes.Repeat([]byte{0x42}, 160)
	for i := 10; i < 20; i++ {
		send(enc, uint16(i), want)
		media.SetReadDeadline(time.Now().Add(time.Second))
		n, err := media.Read(buf)
		if err != nil {
			continue // the first packets teach the server the phone's address
		}
		if bytes.Contains(buf[:n], want) {
			t.Fatal("the echo went in clear")
		}
		plain, err := dec.DecryptRTP(nil, buf[:n], nil)
		if err != nil {
			t.Fatalf("the echo does not decrypt with the answer's key: %v", err)
		}
		var got rtp.Packet
		if err := got.Unmarshal(plain); err != nil || !bytes.Equal(got.Payload, want) {
			t.Fatalf("echo %v %x", err, got.Payload)
		}
		return
	}
	t.Fatal("no echo")
}
