package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/shipgate/shipgate/approval/kube"
	"github.com/shipgate/shipgate/httpapi"
)

// Environment variables the API commands read when their flags are unset.
const (
	envServer = "SHIPGATE_SERVER"
	envToken  = "SHIPGATE_TOKEN"
)

// apiConn is how a command reaches the gateway's REST API: where, trusting
// which CA, and as whom.
type apiConn struct {
	Server     string
	Token      string
	Kubeconfig string
	Context    string
	CAFile     string
	Insecure   bool
}

func (c *apiConn) flags(f *pflag.FlagSet) {
	f.StringVar(&c.Server, "server", "", "the gateway's address, https://HOST:PORT (default $"+envServer+")")
	f.StringVar(&c.Token, "token", "", "bearer token (default $"+envToken+", else the current kubeconfig user's)")
	f.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig whose current user's token to send (default $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&c.Context, "context", "", "kubeconfig context to take the token from (default the current one)")
	f.StringVar(&c.CAFile, "certificate-authority", "", "CA bundle that signed the gateway's certificate (default the system roots)")
	f.BoolVar(&c.Insecure, "insecure-skip-tls-verify", false, "do not check the gateway's certificate (testing only)")
}

// apiClient calls the REST API.
type apiClient struct {
	base string
	http *http.Client
}

// client builds the API client: the server from --server or
// $SHIPGATE_SERVER; the token from --token, $SHIPGATE_TOKEN or the
// kubeconfig user, in that order.
func (c apiConn) client() (*apiClient, error) {
	server := c.Server
	if server == "" {
		server = os.Getenv(envServer)
	}
	if server == "" {
		return nil, fmt.Errorf("no gateway to call: give --server https://HOST:PORT or set $%s", envServer)
	}
	if !strings.HasPrefix(server, "https://") && !strings.HasPrefix(server, "http://") {
		server = "https://" + server
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.Insecure} //nolint:gosec // only when asked for
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading --certificate-authority: %w", err)
		}
		tlsCfg.RootCAs = x509.NewCertPool()
		if !tlsCfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--certificate-authority %s holds no PEM certificate", c.CAFile)
		}
	}
	var rt http.RoundTripper = &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, Proxy: http.ProxyFromEnvironment}
	token := c.Token
	if token == "" {
		token = os.Getenv(envToken)
	}
	if token != "" {
		rt = bearer{token: token, next: rt}
	} else {
		var err error
		if rt, err = kube.Transport(c.Kubeconfig, c.Context, rt); err != nil {
			return nil, fmt.Errorf("no token: give --token or set $%s, or use a kubeconfig user with one (%w)", envToken, err)
		}
	}
	return &apiClient{base: strings.TrimSuffix(server, "/"), http: &http.Client{Transport: rt, Timeout: 30 * time.Second}}, nil
}

// bearer adds a static bearer token to each request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// APIError is an error the gateway answered with.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// do sends body as JSON (none when nil) and decodes a 2xx answer into out.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling the gateway: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("reading the gateway's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e httpapi.ErrorBody
		if json.Unmarshal(raw, &e) != nil || e.Error.Message == "" {
			return &APIError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(raw))}
		}
		return &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("reading the gateway's answer: %w", err)
	}
	return nil
}
