package config

import (
	"io"
	"strings"
	"testing"
)

// sip.conference_extension: "meet" by default, settable like the others,
// empty turns dial-in off, and it must be a SIP user part.
func TestSIPConferenceExtension(t *testing.T) {
	if got := Default().SIP.ConferenceExtension; got != "meet" {
		t.Fatalf("default %q", got)
	}
	for _, tc := range []struct {
		args, env []string
		want, err string
	}{
		{[]string{"--sip"}, nil, "meet", ""},
		{[]string{"--sip", "--sip-conference-extension", "8000"}, nil, "8000", ""},
		{[]string{"--sip"}, []string{"SWITCHBOARD_SIP_CONFERENCE_EXTENSION="}, "", ""},
		{[]string{"--sip", "--sip-conference-extension", "meet me"}, nil, "", "conference_extension"},
		{[]string{"--sip", "--sip-conference-extension", "meet@pbx"}, nil, "", "conference_extension"},
	} {
		cfg, err := Load(tc.args, tc.env, io.Discard)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: %v, want an error about %s", tc.args, err, tc.err)
			}
		case err != nil:
			t.Errorf("%v %v: %v", tc.args, tc.env, err)
		case cfg.SIP.ConferenceExtension != tc.want:
			t.Errorf("%v %v: %q, want %q", tc.args, tc.env, cfg.SIP.ConferenceExtension, tc.want)
		}
	}
}
