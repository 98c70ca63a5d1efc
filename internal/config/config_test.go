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
		{"bad proxy", []string{"--trusted-proxies", "10.0.0.0/8,proxy.example.com"}, nil, "trusted_proxies entry \"proxy.example.com\" must be an IP address or a CIDR range"},
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

func TestOIDCOptions(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "oidc-secret")
	os.WriteFile(secretFile, []byte("s3cret-from-file\n"), 0o600)
	emptyFile := filepath.Join(dir, "empty")
	os.WriteFile(emptyFile, []byte("\n"), 0o600)
	file := filepath.Join(dir, "sso.toml")
	os.WriteFile(file, []byte(`[oidc]
issuer = "https://sso.example.com/realms/acme"
client_id = "switchboard"
client_secret_file = "`+secretFile+`"
scopes = ["openid", "email"]
name = "Keycloak"
role = "agent"
create_users = false
`), 0o600)

	cfg, err := Load([]string{"--config", file}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.OIDC
	if !o.Enabled() || o.Issuer != "https://sso.example.com/realms/acme" || o.ClientID != "switchboard" || o.Name != "Keycloak" ||
		o.Role != "agent" || o.CreateUsers || strings.Join(o.Scopes, " ") != "openid email" {
		t.Fatalf("from the file: %+v", o)
	}
	if o.ClientSecret != "s3cret-from-file" || o.ClientSecretFile != "" {
		t.Fatalf("the secret file was not read: %q %q", o.ClientSecret, o.ClientSecretFile)
	}

	// Flags and the environment; the secret from the environment stays out of the process list.
	cfg, err = Load([]string{"--oidc-issuer", "http://127.0.0.1:9999", "--oidc-client-id", "sb"},
		[]string{"SWITCHBOARD_OIDC_CLIENT_SECRET=s3cret-from-env"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.OIDC; o.ClientSecret != "s3cret-from-env" || o.Role != "member" || !o.CreateUsers ||
		strings.Join(o.Scopes, " ") != "openid email profile" {
		t.Fatalf("defaults with flags and environment: %+v", o)
	}
	if Default().OIDC.Enabled() {
		t.Fatal("single sign-on should be off by default")
	}

	sso := func(more ...string) []string {
		return append([]string{"--oidc-issuer", "https://sso.example.com", "--oidc-client-id", "sb"}, more...)
	}
	withSecret := func(more ...string) []string {
		return sso(append([]string{"--oidc-client-secret-file", secretFile}, more...)...)
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want string // "" means valid
	}{
		{"https issuer", withSecret(), nil, ""},
		{"loopback http issuer", []string{"--oidc-issuer", "http://localhost:8081/realms/x", "--oidc-client-id", "sb", "--oidc-client-secret-file", secretFile}, nil, ""},
		{"ipv6 loopback http issuer", []string{"--oidc-issuer", "http://[::1]:8081", "--oidc-client-id", "sb", "--oidc-client-secret-file", secretFile}, nil, ""},
		{"http issuer", []string{"--oidc-issuer", "http://sso.example.com", "--oidc-client-id", "sb", "--oidc-client-secret-file", secretFile}, nil, "must use https"},
		{"not a URL", []string{"--oidc-issuer", "sso.example.com", "--oidc-client-id", "sb", "--oidc-client-secret-file", secretFile}, nil, "issuer URL"},
		{"issuer with query", []string{"--oidc-issuer", "https://sso.example.com/?x=1", "--oidc-client-id", "sb", "--oidc-client-secret-file", secretFile}, nil, "issuer URL"},
		{"no client id", []string{"--oidc-issuer", "https://sso.example.com", "--oidc-client-secret-file", secretFile}, nil, "client_id is empty"},
		{"no secret", sso(), nil, "needs the client secret"},
		{"two secrets", withSecret(), []string{"SWITCHBOARD_OIDC_CLIENT_SECRET=x"}, "both set"},
		{"missing secret file", sso("--oidc-client-secret-file", filepath.Join(dir, "nope")), nil, "client_secret_file"},
		{"empty secret file", sso("--oidc-client-secret-file", emptyFile), nil, "is empty"},
		{"client without issuer", []string{"--oidc-client-id", "sb"}, nil, "oidc issuer is empty"},
		{"scopes without openid", withSecret("--oidc-scopes", "email,profile"), nil, "must include openid"},
		{"admin role", withSecret("--oidc-role", "admin"), nil, "everyone who can sign in at the provider an admin"},
		{"unknown role", withSecret("--oidc-role", "owner"), nil, "must be member or agent"},
		{"agent role", withSecret("--oidc-role", "agent"), nil, ""},
		{"long name", withSecret("--oidc-name", strings.Repeat("x", 41)), nil, "at most 40 characters"},
		{"unknown env", nil, []string{"SWITCHBOARD_OIDC_ISSUE=https://sso.example.com"}, "matches no option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, tt.env, io.Discard)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}

	// Unknown keys in [oidc] are caught like any other.
	typo := filepath.Join(dir, "typo.toml")
	os.WriteFile(typo, []byte("[oidc]\nclient_secert = \"x\"\n"), 0o600)
	if _, err := Load([]string{"--config", typo}, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "oidc.client_secert") {
		t.Fatalf("typo in [oidc]: %v", err)
	}

	// The usage text lists the options and never shows a secret, even one already set.
	var help strings.Builder
	if _, err := Load([]string{"--help"}, nil, &help); err == nil || !strings.Contains(help.String(), "-oidc-client-secret-file") {
		t.Fatalf("--help does not list the single sign-on options (%v):\n%s", err, help.String())
	}
	help.Reset()
	cfg = Default()
	cfg.OIDC.ClientSecret, cfg.TURN.Secret = "s3cret-oidc", "s3cret-turn-0123456789"
	fs, _ := flagSet(&cfg, &help)
	fs.Usage()
	if strings.Contains(help.String(), "s3cret") {
		t.Fatalf("the usage text shows a secret:\n%s", help.String())
	}
}

// SIP is off by default (docs/deploy.md section 15): a fresh server must start where port 5060 is
// taken. Turned on, its settings come from the file, the environment and flags like the others.
func TestSIPOptions(t *testing.T) {
	def := Default()
	if def.SIP.Enabled {
		t.Fatal("sip should be off by default")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "sip.toml")
	os.WriteFile(file, []byte("[sip]\nenabled = true\nrealm = \"pbx.example.com\"\ntls = \"\"\nmax_message_size = \"8KiB\"\nblock_time = \"1h\"\n"), 0o600)
	cfg, err := Load([]string{"--config", file, "--sip-digest-algorithms", "SHA-256,MD5"},
		[]string{"SWITCHBOARD_SIP_UDP=:5062"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.SIP
	if !s.Enabled || s.Realm != "pbx.example.com" || s.UDP != ":5062" || s.TCP != ":5060" || s.TLS != "" ||
		s.MaxMessageSize != 8<<10 || s.BlockTime != time.Hour || strings.Join(s.DigestAlgorithms, ",") != "SHA-256,MD5" {
		t.Fatalf("sip settings %+v", s)
	}
	if cfg.SIPRealm() != "pbx.example.com" {
		t.Errorf("realm %q", cfg.SIPRealm())
	}
	cfg.SIP.Realm, cfg.PublicURL = "", "https://meet.example.com:8443/x"
	if cfg.SIPRealm() != "meet.example.com" {
		t.Errorf("realm from public_url: %q", cfg.SIPRealm())
	}

	typo := filepath.Join(dir, "typo.toml")
	os.WriteFile(typo, []byte("[sip]\nenabled = true\nrelam = \"x\"\n"), 0o600)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown key", []string{"--config", typo}, "unknown setting(s) sip.relam"},
		{"no transport", []string{"--sip", "--sip-udp", "", "--sip-tcp", "", "--sip-tls", ""}, "sip udp, tcp and tls are all empty"},
		{"bad addr", []string{"--sip", "--sip-udp", "5060"}, "sip udp \"5060\" is not host:port"},
		{"clash with turn", []string{"--sip", "--sip-udp", ":3478"}, "sip udp \":3478\" and turn udp"},
		{"bad algorithm", []string{"--sip", "--sip-digest-algorithms", "SHA-512"}, "\"SHA-512\" is not supported"},
		{"intervals", []string{"--sip", "--sip-min-expires", "2h"}, "min_expires (2h0m0s) <= default_expires"},
		{"bad realm", []string{"--sip", "--sip-realm", "a b"}, "sip realm \"a b\" must be a plain name"},
		{"bad external ip", []string{"--sip", "--sip-external-ip", "pbx"}, "sip external_ip \"pbx\" is not an IP address"},
		{"tiny messages", []string{"--sip", "--sip-max-message-size", "100"}, "sip max_message_size"},
		{"bad rtp ports", []string{"--sip", "--sip-rtp-ports", "20000-10000"}, "sip rtp_ports \"20000-10000\" must be a range"},
		{"bad country code", []string{"--sip", "--sip-default-country-code", "044"}, "sip default_country_code \"044\" must be"},
		{"bad dial prefix", []string{"--sip", "--sip-dial-prefixes", "+44,0044"}, "sip dial_prefixes \"0044\": each an E.164 prefix"},
		{"bad callback prefix", []string{"--sip", "--sip-callback-prefixes", "+"}, "sip callback_prefixes \"+\": each an E.164 prefix"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, nil, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	// Off, its settings are not checked: a broken [sip] section does not stop a server that does
	// not use it... except unknown keys, which are always errors.
	if _, err := Load([]string{"--sip-udp", "5060"}, nil, io.Discard); err != nil {
		t.Errorf("sip off: %v", err)
	}
	var help strings.Builder
	Load([]string{"--help"}, nil, &help)
	for _, k := range []string{"[sip.enabled]", "[sip.realm]", "[sip.block_time]", "[sip.max_message_size]"} {
		if !strings.Contains(help.String(), k) {
			t.Errorf("--help does not document %s", k)
		}
	}
}
