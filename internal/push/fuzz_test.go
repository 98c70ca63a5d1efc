package push

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzValidate feeds subscription JSON as a browser (or anyone) might send it
// through the decoding and checks Subscribe would do: no panics, and what is
// accepted is well formed.
func FuzzValidate(f *testing.F) {
	f.Add(`{"endpoint":"https://fcm.googleapis.com/fcm/send/abc","keys":{"p256dh":"BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM","auth":"tBHItJI5svbpez7KI4CCXg"}}`, false)
	f.Add(`{"endpoint":"http://127.0.0.1/x","keys":{"p256dh":"BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM=","auth":"tBHItJI5svbpez7KI4CCXg=="}}`, true)
	// The subscription of RFC 8291's worked example.
	f.Add(`{"endpoint":"https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV","expirationTime":null,"keys":{"p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"}}`, false)
	f.Add(`{"endpoint":"https://x","keys":{"p256dh":"","auth":"%%%"}}`, false)
	f.Add(`{"endpoint":"https://u:p@x/","keys":{"p256dh":"AA","auth":"AA=="}}`, false)
	f.Fuzz(func(t *testing.T, body string, insecure bool) {
		var sub Subscription
		if json.Unmarshal([]byte(body), &sub) != nil {
			return
		}
		p256dh, auth, err := validate(sub, insecure)
		if err != nil {
			if p256dh != "" || auth != "" {
				t.Fatal("keys returned with an error")
			}
			return
		}
		if len(sub.Endpoint) > maxEndpoint {
			t.Fatalf("endpoint of %d bytes accepted", len(sub.Endpoint))
		}
		u, err := url.Parse(sub.Endpoint)
		if err != nil || u.Host == "" || u.User != nil || !(u.Scheme == "https" || insecure && u.Scheme == "http") {
			t.Fatalf("endpoint %q accepted (insecure %v)", sub.Endpoint, insecure)
		}
		k, err1 := base64.RawURLEncoding.DecodeString(p256dh)
		a, err2 := base64.RawURLEncoding.DecodeString(auth)
		if err1 != nil || err2 != nil || len(k) != p256dhLen || k[0] != 4 || len(a) != authLen {
			t.Fatalf("accepted keys %q, %q", p256dh, auth)
		}
		// Canonical form is stable.
		if p2, a2, err := validate(Subscription{Endpoint: sub.Endpoint, Keys: sub.Keys}, insecure); err != nil || p2 != p256dh || a2 != auth {
			t.Fatal("validation is not deterministic")
		}
		if strings.ContainsAny(p256dh+auth, "=+/") {
			t.Fatal("keys not in canonical base64url")
		}
	})
}
