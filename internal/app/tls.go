package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"gantry/internal/config"
)

// tlsConfig builds the HTTPS listener's configuration from the --tls-*
// options.
func tlsConfig(t config.TLSConfig) (*tls.Config, error) {
	certs, keys := t.CertFiles.Value(), t.KeyFiles.Value()
	if len(certs) == 0 || len(certs) != len(keys) {
		return nil, fmt.Errorf("TLS needs as many --tls-key-file as --tls-cert-file values (got %d certificates, %d keys)", len(certs), len(keys))
	}
	cfg := &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	for i := range certs {
		pair, err := tls.LoadX509KeyPair(certs[i], keys[i])
		if err != nil {
			return nil, fmt.Errorf("load TLS key pair %q: %w", certs[i], err)
		}
		cfg.Certificates = append(cfg.Certificates, pair)
	}

	switch v := strings.ToLower(t.MinVersion.Value()); v {
	case "tls10":
		cfg.MinVersion = tls.VersionTLS10
	case "tls11":
		cfg.MinVersion = tls.VersionTLS11
	case "", "tls12":
		cfg.MinVersion = tls.VersionTLS12
	case "tls13":
		cfg.MinVersion = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("--tls-min-version %q is not one of tls10, tls11, tls12, tls13", v)
	}

	switch v := t.ClientAuth.Value(); v {
	case "", "none":
		cfg.ClientAuth = tls.NoClientCert
	case "request":
		cfg.ClientAuth = tls.RequestClientCert
	case "require-any":
		cfg.ClientAuth = tls.RequireAnyClientCert
	case "verify-if-given":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "require-and-verify":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("--tls-client-auth %q is not one of none, request, require-any, verify-if-given, require-and-verify", v)
	}
	if path := t.ClientCAFile.Value(); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read --tls-client-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca-file %q holds no PEM certificate", path)
		}
		cfg.ClientCAs = pool
	} else if cfg.ClientAuth >= tls.VerifyClientCertIfGiven {
		return nil, errors.New("--tls-client-auth " + t.ClientAuth.Value() + " needs --tls-client-ca-file")
	}

	if names := t.SupportedCiphers.Value(); len(names) > 0 {
		ids, err := cipherSuites(names, t.AllowInsecureCiphers.Value())
		if err != nil {
			return nil, err
		}
		cfg.CipherSuites = ids
	}
	return cfg, nil
}

func cipherSuites(names []string, allowInsecure bool) ([]uint16, error) {
	byName := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		byName[s.Name] = s.ID
	}
	insecure := map[string]uint16{}
	for _, s := range tls.InsecureCipherSuites() {
		insecure[s.Name] = s.ID
	}
	var ids []uint16
	for _, n := range names {
		if id, ok := byName[n]; ok {
			ids = append(ids, id)
			continue
		}
		if id, ok := insecure[n]; ok {
			if !allowInsecure {
				return nil, fmt.Errorf("TLS cipher %q is insecure; set --tls-allow-insecure-ciphers to use it", n)
			}
			ids = append(ids, id)
			continue
		}
		return nil, fmt.Errorf("unknown TLS cipher %q", n)
	}
	return ids, nil
}
