// Package tlstest makes the test PKI of the TLS tests (a CA, server
// certificates signed by it, an untrusted CA and its certificate, an
// expired certificate) with the openssl command into a directory, and,
// built with the tag coro_openssl, holds the C fixtures that drive
// tls/coro_tls.h on a loop of their own (cgo is not allowed in _test.go
// files).
package tlstest

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// PKI names the files New made, all PEM.
type PKI struct {
	Dir    string
	CAFile string // the test CA's certificate ("coro test CA")
	// A server certificate signed by the test CA for localhost, 127.0.0.1
	// and ::1 (EC P-256), and its key.
	CertFile, KeyFile string
	// A second CA, which no test trusts, and a server certificate it
	// signed for the same names.
	OtherCAFile                 string
	OtherCertFile, OtherKeyFile string
	// A certificate for the same names, signed by the test CA, that
	// expired a day ago (key: KeyFile).
	ExpiredCertFile string
}

func openssl(dir string, args ...string) error {
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

const ec = "ec_paramgen_curve:P-256"

// New makes the PKI in dir (a test's temporary directory).
func New(dir string) (*PKI, error) {
	p := &PKI{
		Dir:             dir,
		CAFile:          filepath.Join(dir, "ca.pem"),
		CertFile:        filepath.Join(dir, "server.pem"),
		KeyFile:         filepath.Join(dir, "server.key"),
		OtherCAFile:     filepath.Join(dir, "other-ca.pem"),
		OtherCertFile:   filepath.Join(dir, "other.pem"),
		OtherKeyFile:    filepath.Join(dir, "other.key"),
		ExpiredCertFile: filepath.Join(dir, "expired.pem"),
	}
	ext := "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n" +
		"basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" +
		"keyUsage=critical,digitalSignature\n"
	if err := os.WriteFile(filepath.Join(dir, "server.ext"), []byte(ext), 0o644); err != nil {
		return nil, err
	}
	for _, ca := range []struct{ name, cn, leaf string }{
		{"ca", "coro test CA", "server"}, {"other-ca", "coro untrusted CA", "other"},
	} {
		steps := [][]string{
			{"req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes",
				"-keyout", ca.name + ".key", "-out", ca.name + ".pem", "-days", "3",
				"-subj", "/CN=" + ca.cn},
			{"req", "-newkey", "ec", "-pkeyopt", ec, "-nodes",
				"-keyout", ca.leaf + ".key", "-out", ca.leaf + ".csr", "-subj", "/CN=localhost"},
			{"x509", "-req", "-in", ca.leaf + ".csr", "-CA", ca.name + ".pem",
				"-CAkey", ca.name + ".key", "-CAcreateserial", "-out", ca.leaf + ".pem",
				"-days", "2", "-extfile", "server.ext"},
		}
		for _, s := range steps {
			if err := openssl(dir, s...); err != nil {
				return nil, err
			}
		}
	}
	if err := p.expired(); err != nil {
		return nil, err
	}
	return p, nil
}

// expired signs, with Go's x509 (openssl 3.0's x509 command cannot set a
// start date in the past), a certificate for the server's key that ended
// a day ago.
func (p *PKI) expired() error {
	caCert, err := readPEM(p.CAFile)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caCert)
	if err != nil {
		return err
	}
	caKeyDER, err := readPEM(filepath.Join(p.Dir, "ca.key"))
	if err != nil {
		return err
	}
	caKey, err := x509.ParsePKCS8PrivateKey(caKeyDER)
	if err != nil {
		return err
	}
	keyDER, err := readPEM(p.KeyFile)
	if err != nil {
		return err
	}
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     time.Now().Add(-24 * time.Hour),
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	pub := key.(crypto.Signer).Public()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return err
	}
	return os.WriteFile(p.ExpiredCertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func readPEM(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return blk.Bytes, nil
}
