package rtc

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
)

// gcmSealer encrypts RTP packets with the SRTP profile AEAD_AES_128_GCM (RFC 7714), for the fast
// path's sending side. pion's srtp.Context does the same, but per packet it also looks the stream up
// in a map, re-parses the header it was handed, and works out the rollover counter again: with a
// packet fanned out to a hundred subscribers, each a cache miss on another connection's state, that
// cost more than the encryption. The fast path keeps each stream's index itself (txStream) and only
// needs the cipher. Tests check its output byte for byte against pion's.
type gcmSealer struct {
	aead cipher.AEAD
	salt [12]byte
	iv   [12]byte // scratch: a local array would escape through the interface call
}

const (
	gcmKeyLen  = 16
	gcmSaltLen = 12
	gcmTagLen  = 16
)

// newGCMSealer derives the session encryption key and salt from the master key and salt (RFC 3711
// 4.3 with the AES-CM PRF, key derivation rate 0, as RFC 7714 section 11 specifies).
func newGCMSealer(masterKey, masterSalt []byte) (*gcmSealer, error) {
	if len(masterKey) != gcmKeyLen || len(masterSalt) != gcmSaltLen {
		return nil, errors.New("srtp gcm: master key or salt of the wrong length")
	}
	key, err := srtpKDF(0x00, masterKey, masterSalt, gcmKeyLen)
	if err != nil {
		return nil, err
	}
	salt, err := srtpKDF(0x02, masterKey, masterSalt, gcmSaltLen)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s := &gcmSealer{aead: aead}
	copy(s.salt[:], salt)
	clear(salt)
	return s, nil
}

// srtpKDF is the AES-CM key derivation function of RFC 3711 4.3.3: the master salt, with the label
// at its eighth byte, is the counter block's start; the key stream is the derived key.
func srtpKDF(label byte, masterKey, masterSalt []byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	var in [aes.BlockSize]byte
	copy(in[:], masterSalt)
	in[7] ^= label
	out := make([]byte, (n+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	for i := 0; i*aes.BlockSize < n; i++ {
		binary.BigEndian.PutUint16(in[aes.BlockSize-2:], uint16(i))
		block.Encrypt(out[i*aes.BlockSize:], in[:])
	}
	return out[:n], nil
}

// seal encrypts the RTP packet buf[:n], whose header is buf[:hl], in place, as packet index
// (roc, seq) of stream ssrc, and returns the SRTP packet: buf must have gcmTagLen bytes of room after
// n. The header is authenticated, not encrypted (RFC 7714 section 9).
func (s *gcmSealer) seal(buf []byte, hl, n int, ssrc, roc uint32, seq uint16) []byte {
	iv := &s.iv
	iv[0], iv[1] = 0, 0
	binary.BigEndian.PutUint32(iv[2:], ssrc)
	binary.BigEndian.PutUint32(iv[6:], roc)
	binary.BigEndian.PutUint16(iv[10:], seq)
	for i := range iv {
		iv[i] ^= s.salt[i]
	}
	ct := s.aead.Seal(buf[hl:hl], iv[:], buf[hl:n], buf[:hl])
	return buf[:hl+len(ct)]
}
