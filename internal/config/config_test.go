package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sb.toml")
	os.WriteFile(file, []byte("listen = \":9000\"\nmax_upload = \"10MiB\"\n[rooms]\nempty_timeout = \"1m\"\nmax_participants = 20\n"), 0o600)

	cfg, err := Load(
		[]string{"--config", file, "--max-participants", "30"},
		[]string{"SWITCHBOARD_LISTEN=127.0.0.1:9001", "SWITCHBOARD_MAX_PARTICIPANTS=25", "PATH=/bin"},
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9001" {
		t.Errorf("env should override file: listen = %q", cfg.Listen)
	}
	if cfg.Rooms.MaxParticipants != 30 {
		t.Errorf("flag should override env: max participants = %d", cfg.Rooms.MaxParticipants)
	}
	if cfg.MaxUpload != 10<<20 || cfg.Rooms.EmptyTimeout != time.Minute {
		t.Errorf("file values lost: %v %v", cfg.MaxUpload, cfg.Rooms.EmptyTimeout)
	}
	if cfg.Media.UDP != ":7882" {
		t.Errorf("defaults lost: media udp %q", cfg.Media.UDP)
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.toml")
	os.WriteFile(typo, []byte("listne = \":9000\"\n"), 0o600)

	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown file key", []string{"--config", typo}, nil, "unknown setting(s) listne"},
		{"unknown env", nil, []string{"SWITCHBOARD_LISTNE=:1"}, "SWITCHBOARD_LISTNE matches no option"},
		{"bad env value", nil, []string{"SWITCHBOARD_MAX_UPLOAD=lots"}, "SWITCHBOARD_MAX_UPLOAD"},
		{"bad listen", []string{"--listen", "8080"}, nil, "listen \"8080\" is not host:port"},
		{"cert without key", []string{"--tls-cert", "a.pem"}, nil, "cert and key go together"},
		{"two tls modes", []string{"--self-signed", "--acme-domain", "x.example.com"}, nil, "choose one way"},
		{"port clash", []string{"--turn-udp", ":7882"}, nil, "same port"},
		{"bad origin", []string{"--allowed-origins", "example.com/x"}, nil, "must be an origin"},
		{"stray arg", []string{"oops"}, nil, "unexpected argument"},
		{"bad peers", []string{"--turn-allowed-peers", "10.0.0.0"}, nil, "not a CIDR prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, tt.env, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDefaultsAreValid(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.Rooms.OpenCreation {
		t.Error("meetings should be open to create by default, as documented")
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"50MiB": 50 << 20, "10mb": 10e6, "512": 512, "1GiB": 1 << 30} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1MiB", "x", "99999999999GiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) should fail", in)
		}
	}
	if s := ByteSize(50 << 20).String(); s != "50MiB" {
		t.Errorf("String() = %s", s)
	}
}
