package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeDialOut(t *testing.T) {
	for _, tc := range []struct {
		name, frame, code string
	}{
		{"ok", `{"type":"dialOut","id":"1","target":"1001"}`, ""},
		{"number", `{"type":"dialOut","target":"+15551234567"}`, ""},
		{"empty", `{"type":"dialOut","id":"2","target":""}`, CodeBadRequest},
		{"space", `{"type":"dialOut","target":"10 01"}`, CodeBadRequest},
		{"non-ascii", `{"type":"dialOut","target":"１００１"}`, CodeBadRequest},
		{"too long", `{"type":"dialOut","target":"` + strings.Repeat("1", MaxDialTarget+1) + `"}`, CodeBadRequest},
		{"unknown field", `{"type":"dialOut","target":"1","state":"answered"}`, CodeBadRequest},
	} {
		m, err := Decode([]byte(tc.frame))
		if tc.code == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else if d, ok := m.(*DialOut); !ok || d.Target == "" {
				t.Errorf("%s: decoded %#v", tc.name, m)
			}
			continue
		}
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
}

// FuzzDecodeDialOut: a dialOut frame either decodes to a valid target or is a bad_request, never a panic.
func FuzzDecodeDialOut(f *testing.F) {
	for _, s := range []string{`1001`, `+15551234567`, `sip:alice@example.com`, ``, "a\x00b", `10 01`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		frame, _ := json.Marshal(map[string]string{"type": "dialOut", "id": "1", "target": target})
		m, err := Decode(frame)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeBadRequest {
				t.Fatalf("%q: %v", target, err)
			}
			return
		}
		d := m.(*DialOut)
		if d.Target == "" || len(d.Target) > MaxDialTarget || strings.ContainsAny(d.Target, " \x00\n") {
			t.Fatalf("accepted target %q", d.Target)
		}
	})
}
