package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignMatchesTheDocumentedScheme(t *testing.T) {
	body := []byte(`{"id":"1"}`)
	at := time.Unix(1700000000, 0)
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte("1700000000." + string(body)))
	want := "t=1700000000,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign("k", at, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"1"}`)
	at := time.Unix(1700000000, 0)
	good := Sign("k", at, body)
	other := Sign("old", at, body)
	v1 := good[strings.Index(good, "v1="):]
	for name, tc := range map[string]struct {
		header string
		body   string
		now    time.Time
		want   error
	}{
		"good":             {good, string(body), at, nil},
		"within tolerance": {good, string(body), at.Add(-4 * time.Minute), nil},
		"rotated secrets":  {other + "," + v1, string(body), at, nil},
		"spaces":           {"t=1700000000, " + v1, string(body), at, nil},
		"future scheme":    {good + ",v2=abc", string(body), at, nil},
		"tampered body":    {good, `{"id":"2"}`, at, ErrSignatureMismatch},
		"other timestamp":  {"t=1700000001," + v1, string(body), at, ErrSignatureMismatch},
		"too old":          {good, string(body), at.Add(6 * time.Minute), ErrSignatureExpired},
		"too new":          {good, string(body), at.Add(-6 * time.Minute), ErrSignatureExpired},
		"empty":            {"", string(body), at, ErrMalformedSignature},
		"no v1":            {"t=1700000000", string(body), at, ErrMalformedSignature},
		"no t":             {v1, string(body), at, ErrMalformedSignature},
		"two t":            {"t=1,t=1700000000," + v1, string(body), at, ErrMalformedSignature},
		"t not a number":   {"t=soon," + v1, string(body), at, ErrMalformedSignature},
		"t with plus":      {"t=+1700000000," + v1, string(body), at, ErrMalformedSignature},
		"short v1":         {"t=1700000000,v1=abcd", string(body), at, ErrMalformedSignature},
		"v1 not hex":       {"t=1700000000,v1=" + strings.Repeat("z", 64), string(body), at, ErrMalformedSignature},
		"no equals":        {"t=1700000000,v1", string(body), at, ErrMalformedSignature},
		"huge":             {good + strings.Repeat(",x=y", 2000), string(body), at, ErrMalformedSignature},
	} {
		if err := Verify("k", tc.header, []byte(tc.body), 5*time.Minute, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// FuzzVerify: the signature header comes from outside (the receiving side
// parses it); no input may panic, and only a correct MAC verifies.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"id":"1"}`)
	f.Add(Sign("k", time.Unix(1700000000, 0), body), body)
	f.Add("t=1,v1=00,v1=", []byte{})
	f.Add(",,,=,t=,v1=", []byte("x"))
	f.Add("t=-1,v1="+strings.Repeat("0", 64), []byte("x"))
	f.Add("t=99999999999999999999,v1="+strings.Repeat("0", 64), []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := Verify("k", header, body, 0, time.Now())
		if err != nil {
			return
		}
		// Accepted: then some v1 is the MAC of the stated t and body.
		var ts string
		var sigs []string
		for part := range strings.SplitSeq(header, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "t":
				ts = v
			case "v1":
				sigs = append(sigs, v)
			}
		}
		m := hmac.New(sha256.New, []byte("k"))
		m.Write([]byte(ts + "." + string(body)))
		want := m.Sum(nil)
		for _, v := range sigs {
			if got, _ := hex.DecodeString(v); hmac.Equal(got, want) {
				return
			}
		}
		t.Fatalf("verified %q without a matching MAC", header)
	})
}
