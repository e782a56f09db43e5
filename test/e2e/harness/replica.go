package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
)

// Replica starts another `shipgate serve` beside s, as a second replica of
// the chart's Deployment would run: the same config, service account and
// serving certificate, its own port and SQLite store, its log in
// name.log. The webhooks keep calling s; the replica does what every
// replica does in the background (watching policy ConfigMaps, standing for
// Leases). Stop it with Stop; the cluster's Stop stops it too.
func (s *Shipgate) Replica(ctx context.Context, name string) (*Shipgate, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := *s
	r.Addr = hostPort(port)
	r.URL = "https://" + r.Addr
	r.StorePath = filepath.Join(s.c.Dir, name+".db")
	r.StoreURL = "sqlite://" + r.StorePath
	r.name, r.proc = name, nil
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return &r, nil
}

// Metric reads one sample from shipgate's /metrics: the value of the
// line that is name (with its labels, as exposed), 0 when there is none.
func (s *Shipgate) Metric(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		series, value, ok := strings.Cut(sc.Text(), " ")
		if ok && series == name {
			return strconv.ParseFloat(strings.TrimSpace(value), 64)
		}
	}
	return 0, sc.Err()
}
