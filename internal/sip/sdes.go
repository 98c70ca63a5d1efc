package sip

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
)

// SDES-SRTP (RFC 4568): a desk phone or trunk that encrypts its media
// offers RTP/SAVP with a=crypto lines, each a cipher suite and the key it
// will encrypt with. We answer with the first suite we support and a key
// of our own, and the call's RTPSession encrypts with ours and decrypts
// with theirs. Keys travel in the SDP, so this protects media against
// eavesdroppers on the path, not against whoever reads the signalling:
// use SIP over TLS with it.

// SDES is one side's SRTP key: the a=crypto tag and suite, and the master
// key and salt (30 bytes for the AES-128 suites).
type SDES struct {
	Tag   int
	Suite string
	Key   []byte
}

// The suites we take, best first.
var sdesSuites = map[string]srtp.ProtectionProfile{
	"AES_CM_128_HMAC_SHA1_80": srtp.ProtectionProfileAes128CmHmacSha1_80,
	"AES_CM_128_HMAC_SHA1_32": srtp.ProtectionProfileAes128CmHmacSha1_32,
}

const sdesKeyLen = 30 // 16-byte master key, 14-byte master salt

// parseCrypto finds the first a=crypto line of md with a suite we take.
func parseCrypto(md *sdp.MediaDescription) (*SDES, bool) {
	for _, a := range md.Attributes {
		if a.Key != "crypto" {
			continue
		}
		f := strings.Fields(a.Value)
		if len(f) < 3 {
			continue
		}
		tag, err := strconv.Atoi(f[0])
		if err != nil || tag < 0 || tag > 999999999 {
			continue
		}
		if _, ok := sdesSuites[f[1]]; !ok {
			continue
		}
		// inline:KEY||lifetime|MKI:length; one key, no MKI.
		params, ok := strings.CutPrefix(f[2], "inline:")
		if !ok || strings.Contains(params, ";") {
			continue
		}
		keyB64, rest, _ := strings.Cut(params, "|")
		if strings.Contains(rest, ":") { // an MKI: we would have to send it
			continue
		}
		key, err := base64.StdEncoding.DecodeString(keyB64)
		if err != nil || len(key) != sdesKeyLen {
			continue
		}
		return &SDES{Tag: tag, Suite: f[1], Key: key}, true
	}
	return nil, false
}

// answerCrypto is our side for their offer: the same tag and suite, a new key.
func answerCrypto(theirs *SDES) *SDES {
	key := make([]byte, sdesKeyLen)
	rand.Read(key)
	return &SDES{Tag: theirs.Tag, Suite: theirs.Suite, Key: key}
}

// sameSDES tells whether a and b are the same key under the same tag and suite.
func sameSDES(a, b *SDES) bool {
	return a != nil && b != nil && a.Tag == b.Tag && a.Suite == b.Suite && bytes.Equal(a.Key, b.Key)
}

// attribute is the a=crypto line's value.
func (k *SDES) attribute() string {
	return fmt.Sprintf("%d %s inline:%s", k.Tag, k.Suite, base64.StdEncoding.EncodeToString(k.Key))
}

// srtpPair encrypts what we send (our key) and decrypts what we receive
// (theirs). The read loop alone decrypts; writers share the encrypting
// context under mu.
type srtpPair struct {
	in  *srtp.Context
	mu  sync.Mutex
	out *srtp.Context
}

func newSRTPPair(ours, theirs *SDES) (*srtpPair, error) {
	profile, ok := sdesSuites[ours.Suite]
	if !ok || len(ours.Key) != sdesKeyLen || len(theirs.Key) != sdesKeyLen {
		return nil, fmt.Errorf("sip: srtp: unsupported suite %q or key", ours.Suite)
	}
	out, err := srtp.CreateContext(ours.Key[:16], ours.Key[16:], profile)
	if err != nil {
		return nil, err
	}
	in, err := srtp.CreateContext(theirs.Key[:16], theirs.Key[16:], profile)
	if err != nil {
		return nil, err
	}
	return &srtpPair{in: in, out: out}, nil
}

func (p *srtpPair) encrypt(b []byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.EncryptRTP(nil, b, nil)
}

// Media encryption settings of trunks and SIP accounts (media_encryption):
// what we offer on calls we place to them.
const (
	MediaNone = "none" // plain RTP/AVP
	MediaSDES = "sdes" // RTP/SAVP with a=crypto (AES_CM_128_HMAC_SHA1_80); an answer without crypto is refused
)

// CheckMediaEncryption reports whether v is a media_encryption setting;
// "" is taken as MediaNone.
func CheckMediaEncryption(v string) error {
	switch v {
	case "", MediaNone, MediaSDES:
		return nil
	}
	return fmt.Errorf("%w: mediaEncryption %q is not one of none, sdes", ErrInvalid, v)
}

// ErrNoCrypto refuses an answer to our SDES offer that has no key we can
// use: the call would go out unencrypted, which the account or trunk forbids.
var ErrNoCrypto = errors.New("sip: the answer to our SRTP offer has no usable a=crypto key: media would not be encrypted")

// offerCrypto is our key for an SDES offer: tag 1, our preferred suite.
func offerCrypto() *SDES {
	key := make([]byte, sdesKeyLen)
	rand.Read(key)
	return &SDES{Tag: 1, Suite: "AES_CM_128_HMAC_SHA1_80", Key: key}
}

// checkAnswerCrypto checks an answer's key against our offer: with our
// key offered, the answer must pick its tag and suite (RFC 4568 section
// 7.1.3); without, the answer must not be SRTP.
func checkAnswerCrypto(ours, theirs *SDES) error {
	switch {
	case ours == nil && theirs != nil:
		return ErrSecureMedia
	case ours == nil:
		return nil
	case theirs == nil || theirs.Tag != ours.Tag || theirs.Suite != ours.Suite:
		return ErrNoCrypto
	}
	return nil
}
