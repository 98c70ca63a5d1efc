package protocol

import (
	"errors"
	"strings"
	"testing"
)

// The requests of calls with telephones: hold, resume and transfer, with
// their bad forms refused.
func TestDecodeChatPhoneControl(t *testing.T) {
	for _, tc := range []struct{ name, frame, code string }{
		{"hold", `{"type":"call.hold","id":"1","call":"k"}`, ""},
		{"resume", `{"type":"call.resume","id":"1","call":"k"}`, ""},
		{"hold without call", `{"type":"call.hold","id":"1"}`, CodeBadRequest},
		{"transfer to a number", `{"type":"call.transfer","call":"k","target":"+15557654321"}`, ""},
		{"transfer to a sip address", `{"type":"call.transfer","call":"k","target":"sip:alice@example.com"}`, ""},
		{"transfer to an extension", `{"type":"call.transfer","call":"k","target":"101"}`, ""},
		{"transfer to nobody", `{"type":"call.transfer","call":"k","target":""}`, CodeBadRequest},
		{"transfer with a space", `{"type":"call.transfer","call":"k","target":"+1 555"}`, CodeBadRequest},
		{"transfer with brackets", `{"type":"call.transfer","call":"k","target":"<sip:a@b>"}`, CodeBadRequest},
		{"transfer with a newline", `{"type":"call.transfer","call":"k","target":"1\r\nVia: x"}`, CodeBadRequest},
		{"transfer too long", `{"type":"call.transfer","call":"k","target":"` + strings.Repeat("1", 129) + `"}`, CodeBadRequest},
		{"transfer without call", `{"type":"call.transfer","target":"101"}`, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeChat([]byte(tc.frame))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("DecodeChat: %v", err)
				}
				if typ := strings.SplitN(tc.frame, `"`, 5)[3]; !strings.Contains(string(Encode(m)), `"type":"`+typ+`"`) {
					t.Fatalf("re-encoded as %s", Encode(m))
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("got %v, want code %s", err, tc.code)
			}
		})
	}
}
