package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// TestUIDsAreNeverSentTwice: every request to a server carries a uid of
// its own across runs, each with a new client, as the API server gives
// each AdmissionRequest its own. shipgate records a uid once, so a uid
// sent again would be measured as a lookup, not as a durable append.
func TestUIDsAreNeverSentTwice(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ar admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&ar); err != nil || ar.Request == nil {
			http.Error(w, "not a review", http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[string(ar.Request.UID)]++
		mu.Unlock()
		ar.Response = &admissionv1.AdmissionResponse{UID: ar.Request.UID, Allowed: true}
		ar.Request = nil
		_ = json.NewEncoder(w).Encode(ar)
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	srv := &server{name: "stand-in", base: ts.URL, paths: map[string]string{"validate": "/validate"}, roots: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	f := testFleet()
	pool := podWarmUnits(f, 4)
	const runs, perRun = 3, 10
	for range runs {
		c := newClient(srv, false, 2)
		for i := range perRun {
			if err := c.send(t.Context(), pool[i%len(pool)][0]); err != nil {
				t.Fatal(err)
			}
		}
		c.close()
	}
	if len(seen) != runs*perRun {
		t.Errorf("%d distinct uids in %d requests: %v", len(seen), runs*perRun, seen)
	}
}
