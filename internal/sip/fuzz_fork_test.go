package sip

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// The answer to our SDES offer comes from the network: whatever it holds,
// it is either refused or carries a key of exactly our tag and suite.
func FuzzSDESAnswer(f *testing.F) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, sdesKeyLen))
	f.Add(sdesAnswer(40000, 1, "AES_CM_128_HMAC_SHA1_80", bytes.Repeat([]byte{7}, sdesKeyLen)))
	f.Add("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^20|1:4\r\n")
	f.Add("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:short\r\n")
	f.Add(answerSDP(40000, 0))
	f.Add("")
	ours := &SDES{Tag: 1, Suite: "AES_CM_128_HMAC_SHA1_80", Key: bytes.Repeat([]byte{1}, sdesKeyLen)}
	f.Fuzz(func(t *testing.T, body string) {
		md, err := ParseSDP([]byte(body))
		if err != nil {
			return
		}
		if err := checkAnswerCrypto(ours, md.SRTP); err != nil {
			return
		}
		if md.SRTP.Tag != ours.Tag || md.SRTP.Suite != ours.Suite || len(md.SRTP.Key) != sdesKeyLen {
			t.Fatalf("accepted %+v", md.SRTP)
		}
		if _, err := newSRTPPair(ours, md.SRTP); err != nil {
			t.Fatalf("an accepted key does not make SRTP contexts: %v", err)
		}
	})
}

// Allow headers (which tell whether a phone takes UPDATE) are the peer's.
func FuzzAllows(f *testing.F) {
	f.Add("INVITE, ACK, BYE, UPDATE")
	f.Add("update")
	f.Add(" ,,UPDATEX, UPD ATE")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		res := sip.NewResponse(200, "OK")
		res.AppendHeader(sip.NewHeader("Allow", v))
		got := allows(res, "UPDATE")
		want := false
		for _, m := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(m), "UPDATE") {
				want = true
			}
		}
		if got != want {
			t.Fatalf("allows(%q) = %v", v, got)
		}
	})
}
