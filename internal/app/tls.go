package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/certmagic"

	"switchboard/internal/config"
)

// tlsSetup returns the TLS configuration for the HTTP (and TURN-TLS) listeners, or nil for plain
// HTTP, and a handler for ACME HTTP challenges when certificates are automatic.
func tlsSetup(ctx context.Context, c config.Config, opts Options) (*tls.Config, func(http.Handler) http.Handler, func(), error) {
	switch {
	case c.TLS.Cert != "":
		cert, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("tls certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil, nil, nil
	case len(c.TLS.ACMEDomain) > 0:
		// A cache of our own rather than certmagic's package-level default, so that servers in one
		// process (tests) do not share certificates, and Shutdown can stop its renewal goroutine.
		var magic *certmagic.Config
		cache := certmagic.NewCache(certmagic.CacheOptions{
			GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		})
		magic = certmagic.New(cache, certmagic.Config{Storage: &certmagic.FileStorage{Path: filepath.Join(c.DataDir, "certificates")}})
		issuer := certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
			CA: firstNonEmpty(c.TLS.ACMECA, certmagic.LetsEncryptProductionCA), Email: c.TLS.ACMEEmail, Agreed: true,
			TrustedRoots: opts.ACMERoots,
		})
		magic.Issuers = []certmagic.Issuer{issuer}
		if err := magic.ManageSync(ctx, c.TLS.ACMEDomain); err != nil {
			cache.Stop()
			return nil, nil, nil, fmt.Errorf("automatic certificates for %v: %w (ports 80 and 443 must reach this server)", c.TLS.ACMEDomain, err)
		}
		tc := magic.TLSConfig()
		tc.NextProtos = append([]string{"h2", "http/1.1"}, tc.NextProtos...)
		return tc, issuer.HTTPChallengeHandler, cache.Stop, nil
	case c.TLS.SelfSigned:
		cert, err := selfSigned(c.DataDir)
		if err != nil {
			return nil, nil, nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil, nil, nil
	}
	return nil, nil, nil, nil
}

// selfSigned loads or makes a certificate kept in the data directory, valid for this host's names
// and addresses, so a LAN server has HTTPS (browsers need a secure context for camera and mic).
func selfSigned(dir string) (tls.Certificate, error) {
	certFile, keyFile := filepath.Join(dir, "selfsigned.crt"), filepath.Join(dir, "selfsigned.key")
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil && time.Until(leaf.NotAfter) > 7*24*time.Hour {
			return cert, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "Switchboard self-signed"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(397 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", host},
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ipn.IP)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}

func firstNonEmpty(a ...string) string {
	for _, s := range a {
		if s != "" {
			return s
		}
	}
	return ""
}
