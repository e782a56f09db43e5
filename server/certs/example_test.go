package certs_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/shipgate/shipgate/server/certs"
)

// A webhook without cert-manager makes its own CA and serving certificate
// once, serves them through a Reloader, and registers ca.crt as the caBundle.
func Example() {
	dir, err := os.MkdirTemp("", "shipgate-certs")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	hosts := []string{"shipgate.shipgate-system.svc"}
	paths, err := certs.GenerateSelfSigned(dir, hosts, 365*24*time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := certs.NewReloader(paths.CertFile, paths.KeyFile,
		certs.WithOnError(func(err error) { slog.Error("serving certificate", "err", err) }),
		certs.WithOnReload(func(leaf *x509.Certificate) { slog.Info("serving certificate reloaded", "expires", leaf.NotAfter) }),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if err := r.Run(ctx); err != nil {
			slog.Error("watching serving certificate", "err", err)
		}
	}()
	srv := &http.Server{Addr: ":8443", TLSConfig: certs.TLSConfig(r.GetCertificate)}
	// srv.ListenAndServeTLS("", "") would now serve the webhook.

	cert, err := srv.TLSConfig.GetCertificate(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cert.Leaf.DNSNames, cert.Leaf.IPAddresses)
	// Output: [shipgate.shipgate-system.svc localhost] [127.0.0.1 ::1]
}
