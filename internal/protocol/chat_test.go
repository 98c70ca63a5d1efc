package protocol

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeChat(t *testing.T) {
	long := strings.Repeat("x", MaxMessageLen+1)
	for _, tc := range []struct {
		name, frame string
		code        string // "" when it must decode
	}{
		{"send", `{"type":"send","id":"1","conversation":"c1","txn":"t1","text":"hello <b>"}`, ""},
		{"send with files only", `{"type":"send","conversation":"c1","txn":"t1","files":["f1"]}`, ""},
		{"send without txn", `{"type":"send","conversation":"c1","text":"hi"}`, CodeBadRequest},
		{"send empty text", `{"type":"send","conversation":"c1","txn":"t","text":"  "}`, CodeBadRequest},
		{"send oversized", `{"type":"send","id":"9","conversation":"c1","txn":"t","text":"` + long + `"}`, CodeTooLarge},
		{"send control characters", `{"type":"send","conversation":"c1","txn":"t","text":"a\u0000b"}`, CodeBadRequest},
		{"bad conversation id", `{"type":"sync","conversation":"../x","after":0}`, CodeBadRequest},
		{"negative cursor", `{"type":"sync","conversation":"c","after":-1}`, CodeBadRequest},
		{"forged receipt user", `{"type":"read","conversation":"c","seq":3,"user":"someone"}`, CodeBadRequest},
		{"read", `{"type":"read","conversation":"c","seq":3}`, ""},
		{"forged typing user", `{"type":"typing","conversation":"c","user":"someone"}`, CodeBadRequest},
		{"status", `{"type":"status","status":"dnd","text":"focus"}`, ""},
		{"status in_call is derived", `{"type":"status","status":"in_call","text":""}`, CodeBadRequest},
		{"react", `{"type":"react","conversation":"c","seq":1,"emoji":"👍","add":true}`, ""},
		{"react with spaces", `{"type":"react","conversation":"c","seq":1,"emoji":"a b","add":true}`, CodeBadRequest},
		{"call a user", `{"type":"call","user":"u1","video":true}`, ""},
		{"call nobody", `{"type":"call","video":true}`, CodeBadRequest},
		{"call both", `{"type":"call","user":"u","conversation":"c"}`, CodeBadRequest},
		{"call a phone and a user", `{"type":"call","user":"u","phone":"101"}`, CodeBadRequest},
		{"call a phone with a space", `{"type":"call","phone":"1 01"}`, CodeBadRequest},
		{"click to call", `{"type":"call","clickToCall":true}`, ""},
		{"click to call a number", `{"type":"call","clickToCall":true,"phone":"+15551234567"}`, CodeBadRequest},
		{"answer", `{"type":"call.answer","call":"k"}`, ""},
		{"create group", `{"type":"create","kind":"group","name":"Team","members":["u1","u2"]}`, ""},
		{"create direct", `{"type":"create","kind":"direct","name":"x"}`, CodeBadRequest},
		{"update nothing", `{"type":"update","conversation":"c"}`, CodeBadRequest},
		{"update name", `{"type":"update","conversation":"c","name":"Team"}`, ""},
		{"update two-line name", `{"type":"update","conversation":"c","name":"Two\nlines"}`, CodeBadRequest},
		{"update name with a carriage return", `{"type":"update","conversation":"c","name":"a\rb"}`, CodeBadRequest},
		{"create two-line name", `{"type":"create","kind":"group","name":"Two\nlines"}`, CodeBadRequest},
		{"create name with a carriage return", `{"type":"create","kind":"group","name":"a\rb"}`, CodeBadRequest},
		{"thread", `{"type":"thread","conversation":"c","root":4}`, ""},
		{"thread page", `{"type":"thread","conversation":"c","root":4,"after":9,"limit":20}`, ""},
		{"thread negative after", `{"type":"thread","conversation":"c","root":4,"after":-1}`, CodeBadRequest},
		{"thread negative limit", `{"type":"thread","conversation":"c","root":4,"limit":-1}`, CodeBadRequest},
		{"unknown field", `{"type":"ping","x":1}`, CodeBadRequest},
		{"meeting message", `{"type":"offer","pc":"pub","sdp":"v=0"}`, CodeUnknownType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeChat([]byte(tc.frame))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("DecodeChat: %v", err)
				}
				if !strings.Contains(string(Encode(m)), `"type"`) {
					t.Fatal("re-encoding lost the type")
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

func FuzzDecodeChat(f *testing.F) {
	for _, s := range []string{
		`{"type":"send","id":"1","conversation":"c1","txn":"t1","text":"hi","thread":3,"files":["f"]}`,
		`{"type":"sync","conversation":"c","after":5,"limit":10}`,
		`{"type":"react","conversation":"c","seq":1,"emoji":"👍","add":true}`,
		`{"type":"update","conversation":"c","name":"n","topic":"t","archived":false}`,
		`{"type":"thread","conversation":"c","root":4,"after":9,"limit":20}`,
		`{"type":"call.add","call":"k","users":["a","b"]}`,
		`{"type":"search","query":"東京","conversation":"c"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeChat(data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code == "" {
				t.Fatalf("error %v is not a protocol error", err)
			}
			return
		}
		_ = Encode(m)
	})
}

// A thread answer tells whether there are more replies; a history answer
// leaves more out.
func TestHistoryMsgMore(t *testing.T) {
	if got := string(Encode(&HistoryMsg{Conversation: "c", Messages: []Entry{}, More: true})); !strings.Contains(got, `"more":true`) {
		t.Errorf("thread page with more: %s", got)
	}
	if got := string(Encode(&HistoryMsg{Conversation: "c", Messages: []Entry{}})); strings.Contains(got, `"more"`) {
		t.Errorf("history: %s", got)
	}
	m, err := DecodeChat([]byte(`{"type":"thread","id":"1","conversation":"c","root":4,"after":9,"limit":20}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := m.(*ThreadReq); r.After != 9 || r.Limit != 20 {
		t.Errorf("thread request %+v", r)
	}
}
