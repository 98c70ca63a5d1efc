package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		code     string // "" = valid
		wantID   string
	}{
		{"join", `{"type":"join","id":"1","v":1,"room":"abc-DEF_1","name":" Ada "}`, "", "1"},
		{"not json", `{"type":`, CodeBadRequest, ""},
		{"array", `[1,2]`, CodeBadRequest, ""},
		{"type not string", `{"type":5}`, CodeBadRequest, ""},
		{"unknown type", `{"type":"hack","id":"9"}`, CodeUnknownType, "9"},
		{"server-only type", `{"type":"joined","id":"9"}`, CodeUnknownType, "9"},
		{"unknown field", `{"type":"ping","id":"2","extra":1}`, CodeBadRequest, "2"},
		{"bad room", `{"type":"join","id":"3","v":1,"room":"../etc"}`, CodeBadRequest, "3"},
		{"long name", `{"type":"join","v":1,"room":"r","name":"` + strings.Repeat("x", 65) + `"}`, CodeBadRequest, ""},
		{"control char name", `{"type":"join","v":1,"room":"r","name":"a\u0007"}`, CodeBadRequest, ""},
		{"offer on sub", `{"type":"offer","pc":"sub","sdp":"v=0"}`, CodeBadRequest, ""},
		{"offer bad source", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"a":"webcam"}}`, CodeBadRequest, ""},
		{"offer ok", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"a":"camera"}}`, "", ""},
		{"answer on pub", `{"type":"answer","pc":"pub","sdp":"v=0"}`, CodeBadRequest, ""},
		{"candidate null", `{"type":"candidate","pc":"pub","candidate":null}`, "", ""},
		{"chat empty", `{"type":"chat","id":"4"}`, CodeBadRequest, "4"},
		{"chat too long", `{"type":"chat","text":"` + strings.Repeat("é", MaxChatLen+1) + `"}`, CodeBadRequest, ""},
		{"chat forged message", `{"type":"chat","text":"x","message":{"seq":1,"from":"p","name":"n","text":"t","at":""}}`, CodeBadRequest, ""},
		{"host unknown action", `{"type":"host","action":"ban"}`, CodeBadRequest, ""},
		{"host remove without participant", `{"type":"host","action":"remove"}`, CodeBadRequest, ""},
		{"view negative", `{"type":"view","track":"t","width":-1,"height":0}`, CodeBadRequest, ""},
		{"relay forged from", `{"type":"relay","to":"a","from":"b","data":{}}`, CodeBadRequest, ""},
		{"long id", `{"type":"ping","id":"` + strings.Repeat("1", 65) + `"}`, CodeBadRequest, ""},
		{"trailing", `{"type":"ping"} {"type":"ping"}`, CodeBadRequest, ""},
		{"too large", `{"type":"chat","text":"` + strings.Repeat("a", MaxFrame) + `"}`, CodeTooLarge, ""},
		{"too large answered by id", `{"type":"chat","id":"7","text":"` + strings.Repeat("a", MaxFrame) + `"}`, CodeTooLarge, "7"},
		{"too large and not JSON", `{"type":"chat","id":"7","text":"` + strings.Repeat("a", MaxFrame), CodeTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.in))
			if tt.code == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if RequestID(m) != tt.wantID {
					t.Errorf("id = %q, want %q", RequestID(m), tt.wantID)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != tt.code {
				t.Fatalf("got %v, want code %s", err, tt.code)
			}
			if pe.ID != tt.wantID {
				t.Errorf("error id = %q, want %q (the client must be able to match the reply)", pe.ID, tt.wantID)
			}
		})
	}
}

func TestDecodeTrimsName(t *testing.T) {
	m, err := Decode([]byte(`{"type":"join","v":1,"room":"r","name":"  Ada  "}`))
	if err != nil || m.(*Join).Name != "Ada" {
		t.Fatalf("got %+v, %v", m, err)
	}
}

func TestEncodeSetsType(t *testing.T) {
	b := Encode(&ParticipantLeft{Participant: "p1", Reason: "left"})
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["type"] != "participant-left" || got["participant"] != "p1" {
		t.Fatalf("encoded %s", b)
	}
	if _, ok := got["id"]; ok {
		t.Errorf("an event without request id must not carry id: %s", b)
	}
}

// FuzzDecode: nothing a client sends may panic the decoder, and every failure is a protocol error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","id":"1","v":1,"room":"r","name":"a"}`,
		`{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"a":"camera"}}`,
		`{"type":"candidate","pc":"sub","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"relay","to":"p","data":{"x":[1,2]}}`,
		`{"type":"host","action":"admit","participant":"p"}`,
		`{"type":"chat","text":"hi","file":"f"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code == "" {
				t.Fatalf("error %v is not a protocol error", err)
			}
			return
		}
		if m == nil {
			t.Fatal("nil message without error")
		}
		_ = Encode(m)
	})
}
