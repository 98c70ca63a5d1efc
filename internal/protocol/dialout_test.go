package protocol

import (
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
