package testenv

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// fakeAPIServer answers every request with a Secret and counts the requests that reached it.
func fakeAPIServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = io.WriteString(w, `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s","namespace":"ns"}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &reached
}

// The faults reach client-go as API errors of the right kind, and only the lost response reaches
// the server.
func TestFaultInjectorErrorsAreAPIErrors(t *testing.T) {
	srv, reached := fakeAPIServer(t)
	for _, tc := range []struct {
		name    string
		faults  Faults
		is      func(error) bool
		reached int64
	}{
		{"conflict", Faults{Conflict: 1}, apierrors.IsConflict, 0},
		{"internal error", Faults{InternalError: 1}, apierrors.IsInternalError, 0},
		{"lost response", Faults{LostResponse: 1}, apierrors.IsInternalError, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reached.Store(0)
			fi := NewFaultInjector(1, tc.faults)
			cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, WrapTransport: fi.Wrap})
			if err != nil {
				t.Fatal(err)
			}
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}}
			_, err = cs.CoreV1().Secrets("ns").Create(context.Background(), secret, metav1.CreateOptions{})
			if !tc.is(err) {
				t.Fatalf("Create returned %v (%T), want a %s API error", err, err, tc.name)
			}
			if !strings.Contains(err.Error(), "injected fault") {
				t.Errorf("the error %q does not say the fault was injected", err)
			}
			if got := reached.Load(); got != tc.reached {
				t.Errorf("%d requests reached the server, want %d", got, tc.reached)
			}
			// Reads are not faulted unless asked.
			if _, err := cs.CoreV1().Secrets("ns").Get(context.Background(), "s", metav1.GetOptions{}); err != nil {
				t.Errorf("Get: %v", err)
			}
			if c := fi.Counts(); c.Injected() != 1 || c.Writes != 1 || c.Requests != 2 {
				t.Errorf("counts: %s", c)
			}
		})
	}
}

// get sends one request through the injector and returns its status code.
func get(t *testing.T, c *http.Client, method, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// Watches are never faulted unless asked; reads are when asked.
func TestFaultInjectorSparesWatches(t *testing.T) {
	srv, _ := fakeAPIServer(t)
	fi := NewFaultInjector(1, Faults{ReadError: 1, Conflict: 1, MaxLatency: time.Hour})
	c := &http.Client{Transport: fi.Wrap(http.DefaultTransport)}
	if code := get(t, c, http.MethodGet, srv.URL+"/api/v1/namespaces/ns/secrets?watch=true"); code != http.StatusOK {
		t.Errorf("watch: %d, want 200", code)
	}
	fi.Set(Faults{ReadError: 1})
	if code := get(t, c, http.MethodGet, srv.URL+"/api/v1/namespaces/ns/secrets/s"); code != http.StatusInternalServerError {
		t.Errorf("get: %d, want 500", code)
	}
	fi.Set(Faults{ReadError: 1, FaultWatches: true})
	if code := get(t, c, http.MethodGet, srv.URL+"/api/v1/namespaces/ns/secrets?watch=1"); code != http.StatusInternalServerError {
		t.Errorf("watch with FaultWatches: %d, want 500", code)
	}
	// Match limits the faults: here to the informer requests of Secrets.
	fi.Set(Faults{ReadError: 1, FaultWatches: true, Conflict: 1, Match: ListsAndWatchesOf("secrets")})
	for url, want := range map[string]int{
		"/api/v1/secrets?watch=true":                                    http.StatusInternalServerError,
		"/api/v1/namespaces/ns/secrets?labelSelector=a%3Db":             http.StatusInternalServerError,
		"/api/v1/namespaces/ns/secrets/s":                               http.StatusOK,
		"/api/v1/namespaces/ns/secrets?fieldSelector=metadata.name%3Ds": http.StatusOK,
		"/api/v1/namespaces/ns/configmaps":                              http.StatusOK,
		"/apis/access.dashboardops.io/v1alpha1/passcodes":               http.StatusOK,
		"/apis/access.dashboardops.io/v1alpha1/namespaces/ns":           http.StatusOK,
	} {
		if code := get(t, c, http.MethodGet, srv.URL+url); code != want {
			t.Errorf("GET %s with Match: %d, want %d", url, code, want)
		}
	}
	if code := get(t, c, http.MethodPost, srv.URL+"/api/v1/namespaces/ns/secrets"); code != http.StatusCreated {
		t.Errorf("POST with a Match for reads only: %d, want 201", code)
	}
}

// The same seed gives the same fates; the fractions and the latency are about what was asked.
func TestFaultInjectorIsSeededAndProportional(t *testing.T) {
	srv, _ := fakeAPIServer(t)
	run := func(seed int64, n int, faults Faults) ([]int, FaultCounts) {
		fi := NewFaultInjector(seed, faults)
		c := &http.Client{Transport: fi.Wrap(http.DefaultTransport)}
		codes := make([]int, 0, n)
		for i := range n {
			path := []string{"/api/v1/namespaces/ns/secrets/a", "/apis/g/v1/namespaces/ns/things/b/status"}[i%2]
			codes = append(codes, get(t, c, http.MethodPatch, srv.URL+path))
		}
		return codes, fi.Counts()
	}
	faults := Faults{Conflict: 0.10, InternalError: 0.02, LostResponse: 0.02}
	codes1, counts := run(7, 1000, faults)
	codes2, _ := run(7, 1000, faults)
	codes3, _ := run(8, 1000, faults)
	for i := range codes1 {
		if codes1[i] != codes2[i] {
			t.Fatalf("request %d: %d then %d with the same seed", i, codes1[i], codes2[i])
		}
	}
	same := 0
	for i := range codes1 {
		if codes1[i] == codes3[i] {
			same++
		}
	}
	if same == len(codes1) {
		t.Error("another seed gave the same fates")
	}
	t.Logf("seed 7: %s", counts)
	if counts.Conflicts < 60 || counts.Conflicts > 140 {
		t.Errorf("%d conflicts in 1000 writes, want about 100", counts.Conflicts)
	}
	if counts.InternalErrors < 5 || counts.InternalErrors > 40 || counts.LostResponses < 5 || counts.LostResponses > 40 {
		t.Errorf("%d internal errors and %d lost responses in 1000 writes, want about 20 each", counts.InternalErrors, counts.LostResponses)
	}
	if _, c := run(7, 50, Faults{MaxLatency: 4 * time.Millisecond}); c.Latency < 40*time.Millisecond || c.Latency > 160*time.Millisecond {
		t.Errorf("%s latency added to 50 requests, want about 100ms", c.Latency)
	}
	// Reset makes an injector start over: the same fates again, nothing counted.
	fi := NewFaultInjector(7, faults)
	c := &http.Client{Transport: fi.Wrap(http.DefaultTransport)}
	for i := range 100 {
		_ = get(t, c, http.MethodPatch, srv.URL+[]string{"/api/v1/namespaces/ns/secrets/a", "/apis/g/v1/namespaces/ns/things/b/status"}[i%2])
	}
	fi.Reset()
	if n := fi.Counts().Requests; n != 0 || len(fi.Breakdown()) != 0 {
		t.Errorf("after Reset: %d requests counted, breakdown %v", n, fi.Breakdown())
	}
	for i := range 100 {
		path := []string{"/api/v1/namespaces/ns/secrets/a", "/apis/g/v1/namespaces/ns/things/b/status"}[i%2]
		if code := get(t, c, http.MethodPatch, srv.URL+path); code != codes1[i] {
			t.Fatalf("request %d after Reset: %d, want %d as the first time", i, code, codes1[i])
		}
	}
	if got := resourceOf("/apis/g/v1/namespaces/ns/things/b/status"); got != "things/status" {
		t.Errorf("resourceOf: %q", got)
	}
}
