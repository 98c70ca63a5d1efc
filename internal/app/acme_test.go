package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"switchboard/internal/config"
)

// TestAutomaticHTTPS obtains a certificate from a real ACME server (pebble, Let's Encrypt's test CA,
// in-process) and serves HTTPS with it. Pebble is told to skip challenge validation, since the test
// cannot own a public DNS name; the ACME protocol exchange itself is real.
func TestAutomaticHTTPS(t *testing.T) {
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "1")
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, 5002, 5001, false, "", store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	acmeSrv := httptest.NewTLSServer(front.Handler())
	defer acmeSrv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(acmeSrv.Certificate())

	cfg := config.Local(t.TempDir())
	cfg.Media.TCP = ""
	cfg.TURN.Enabled = false
	cfg.TLS.ACMEDomain = []string{"meet.switchboard.test"}
	cfg.TLS.ACMECA = acmeSrv.URL + "/dir"
	cfg.TLS.ACMEEmail = "admin@switchboard.test"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := New(ctx, cfg, Options{LoopbackOnly: true, ACMEHTTPAddr: "127.0.0.1:0", ACMERoots: roots, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	defer a.Shutdown(context.Background())

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "meet.switchboard.test", InsecureSkipVerify: true}}}
	resp, err := hc.Get(strings.Replace(a.URL(), "localhost", "127.0.0.1", 1) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname("meet.switchboard.test"); err != nil {
		t.Errorf("served certificate is not for the domain: %v", err)
	}
	if !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Errorf("certificate issued by %q, want the ACME CA", leaf.Issuer.CommonName)
	}
}
