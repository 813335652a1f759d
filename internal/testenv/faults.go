package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Faults says what a FaultInjector does to a client's requests. The zero value does nothing.
// Fractions are between 0 and 1; Conflict + InternalError + LostResponse should not exceed 1.
type Faults struct {
	// Conflict is the fraction of writes (POST, PUT, PATCH, DELETE) answered 409 Conflict without
	// reaching the API server.
	Conflict float64
	// InternalError is the fraction of writes answered 500 InternalError without reaching the API
	// server.
	InternalError float64
	// LostResponse is the fraction of writes that reach the API server and succeed, but whose
	// response is replaced by a 500: the write happened and the client believes it failed.
	LostResponse float64
	// ReadError is the fraction of reads (GET, except watches) answered 500 InternalError without
	// reaching the API server.
	ReadError float64
	// MaxLatency delays every request (except watches) by a duration in [0, MaxLatency).
	MaxLatency time.Duration
	// FaultWatches lets ReadError and MaxLatency hit watch requests too. Off by default: a watch
	// that fails only makes the informer re-list, which is not what these faults are about.
	FaultWatches bool
	// Match, when set, limits the faults and the latency to the requests it matches (e.g.
	// ListsAndWatchesOf).
	Match func(*http.Request) bool
}

// ListsAndWatchesOf matches the list and watch requests of the given resources (plural names, in
// any namespace): what an informer sends. Failing them holds that informer's cache back while
// the API server and every other informer work. A list of one name (fieldSelector metadata.name)
// is a point read, like a get, not an informer's: it is spared.
func ListsAndWatchesOf(resources ...string) func(*http.Request) bool {
	return func(req *http.Request) bool {
		if req.Method != http.MethodGet || strings.HasPrefix(req.URL.Query().Get("fieldSelector"), "metadata.name=") {
			return false
		}
		path := strings.TrimSuffix(req.URL.Path, "/")
		last := path[strings.LastIndex(path, "/")+1:]
		for _, r := range resources {
			if last == r && resourceOf(path) == r {
				return true
			}
		}
		return false
	}
}

// FaultCounts is what a FaultInjector did so far.
type FaultCounts struct {
	// Requests and Writes count every request seen, and the writes among them.
	Requests, Writes int64
	// Conflicts, InternalErrors and ReadErrors count requests answered by the injector without
	// reaching the API server.
	Conflicts, InternalErrors, ReadErrors int64
	// LostResponses counts writes the API server carried out whose response was replaced by a 500.
	LostResponses int64
	// Latency is the delay added in total.
	Latency time.Duration
}

// Injected is the number of requests that failed because of the injector.
func (c FaultCounts) Injected() int64 {
	return c.Conflicts + c.InternalErrors + c.ReadErrors + c.LostResponses
}

func (c FaultCounts) String() string {
	return fmt.Sprintf("%d requests (%d writes): %d conflicts, %d internal errors, %d lost responses (written, reported failed), "+
		"%d read errors; %s latency added", c.Requests, c.Writes, c.Conflicts, c.InternalErrors, c.LostResponses, c.ReadErrors,
		c.Latency.Round(time.Millisecond))
}

// FaultInjector wraps a client's transport (rest.Config.WrapTransport) and answers a seeded
// fraction of its requests with API errors, as a flaky API server, an overloaded etcd or a
// dropped connection would. It is reproducible: the n-th request with a given method and path
// meets the same fate in every run with the same seed, whatever the interleaving of other
// requests. Faults can be changed while requests flow (Set).
type FaultInjector struct {
	seed   uint64
	faults atomic.Pointer[Faults]

	mu       sync.Mutex
	seen     map[string]uint64 // method and path -> requests seen
	injected map[string]int64  // "PATCH passcodes/status: lost response" -> count

	requests, writes, conflicts, internalErrors, lostResponses, readErrors, latency atomic.Int64
}

// NewFaultInjector returns an injector with seed and initial faults f.
func NewFaultInjector(seed int64, f Faults) *FaultInjector {
	fi := &FaultInjector{seed: uint64(seed), seen: map[string]uint64{}, injected: map[string]int64{}} //nolint:gosec // a seed: any bits do
	fi.Set(f)
	return fi
}

// Set replaces the faults injected from now on.
func (fi *FaultInjector) Set(f Faults) { fi.faults.Store(&f) }

// Wrap is a transport.WrapperFunc: set it as rest.Config.WrapTransport.
func (fi *FaultInjector) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &faultyTransport{fi: fi, next: rt}
}

// Reset forgets the requests seen and the faults counted: after it the injector decides and counts
// as a new one with the same seed would.
func (fi *FaultInjector) Reset() {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.seen, fi.injected = map[string]uint64{}, map[string]int64{}
	for _, c := range []*atomic.Int64{&fi.requests, &fi.writes, &fi.conflicts, &fi.internalErrors, &fi.lostResponses,
		&fi.readErrors, &fi.latency} {
		c.Store(0)
	}
}

// Counts returns what the injector did so far.
func (fi *FaultInjector) Counts() FaultCounts {
	return FaultCounts{
		Requests: fi.requests.Load(), Writes: fi.writes.Load(),
		Conflicts: fi.conflicts.Load(), InternalErrors: fi.internalErrors.Load(),
		LostResponses: fi.lostResponses.Load(), ReadErrors: fi.readErrors.Load(),
		Latency: time.Duration(fi.latency.Load()),
	}
}

// Breakdown lists the injected faults by method and resource, most frequent first, e.g.
// "PATCH passcodes/status: conflict ×3".
func (fi *FaultInjector) Breakdown() []string {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	out := make([]string, 0, len(fi.injected))
	for k, n := range fi.injected {
		out = append(out, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// fate is what happens to one request.
type fate int

const (
	forward fate = iota
	answerConflict
	answerInternalError
	loseResponse
	answerReadError
)

// decide picks the fate and the delay of a request from the seed, its method and path, and how
// many such requests came before it.
func (fi *FaultInjector) decide(req *http.Request, write, watch bool) (fate, time.Duration) {
	f := fi.faults.Load()
	key := req.Method + " " + req.URL.Path
	fi.mu.Lock()
	n := fi.seen[key]
	fi.seen[key] = n + 1
	fi.mu.Unlock()
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	base := fi.seed ^ h.Sum64() ^ (n * 0x9e3779b97f4a7c15)

	if f.Match != nil && !f.Match(req) {
		return forward, 0
	}
	var delay time.Duration
	if f.MaxLatency > 0 && (!watch || f.FaultWatches) {
		delay = time.Duration(uniform(base, 1) * float64(f.MaxLatency))
	}
	u := uniform(base, 2)
	switch {
	case write && u < f.Conflict:
		return answerConflict, delay
	case write && u < f.Conflict+f.InternalError:
		return answerInternalError, delay
	case write && u < f.Conflict+f.InternalError+f.LostResponse:
		return loseResponse, delay
	case !write && (!watch || f.FaultWatches) && u < f.ReadError:
		return answerReadError, delay
	}
	return forward, delay
}

func (fi *FaultInjector) note(req *http.Request, what string) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.injected[req.Method+" "+resourceOf(req.URL.Path)+": "+what]++
}

// uniform maps (seed, stream) to a number in [0, 1) with splitmix64.
func uniform(seed, stream uint64) float64 {
	z := seed + stream*0xbf58476d1ce4e5b9
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

type faultyTransport struct {
	fi   *FaultInjector
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *faultyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	fi := t.fi
	write := isWrite(req.Method)
	watch := isWatch(req)
	fi.requests.Add(1)
	if write {
		fi.writes.Add(1)
	}
	what, delay := fi.decide(req, write, watch)
	if delay > 0 {
		fi.latency.Add(int64(delay))
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-req.Context().Done():
			timer.Stop()
			closeBody(req)
			return nil, req.Context().Err()
		}
	}
	switch what {
	case answerConflict:
		fi.conflicts.Add(1)
		fi.note(req, "conflict")
		closeBody(req)
		return statusResponse(req, http.StatusConflict, metav1.StatusReasonConflict, fmt.Sprintf(
			"Operation cannot be fulfilled on %s: the object has been modified; please apply your changes to the latest "+
				"version and try again (injected fault)", resourceOf(req.URL.Path))), nil
	case answerInternalError, answerReadError:
		if what == answerReadError {
			fi.readErrors.Add(1)
			fi.note(req, "read error")
		} else {
			fi.internalErrors.Add(1)
			fi.note(req, "internal error")
		}
		closeBody(req)
		return statusResponse(req, http.StatusInternalServerError, metav1.StatusReasonInternalError,
			"Internal error occurred: injected fault, the request did not reach the API server"), nil
	case loseResponse:
		resp, err := t.next.RoundTrip(req)
		if err != nil || resp.StatusCode >= http.StatusMultipleChoices {
			return resp, err // it failed by itself: nothing to lose
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		fi.lostResponses.Add(1)
		fi.note(req, "lost response")
		return statusResponse(req, http.StatusInternalServerError, metav1.StatusReasonInternalError,
			"Internal error occurred: injected fault, the write was carried out but its response was lost"), nil
	}
	return t.next.RoundTrip(req)
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

func isWatch(req *http.Request) bool {
	w := req.URL.Query().Get("watch")
	return w == "true" || w == "1" || strings.Contains(req.URL.Path, "/watch/")
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// statusResponse is an API error as kube-apiserver writes it: a metav1.Status in JSON, which
// client-go turns into an *apierrors.StatusError of that reason and code.
func statusResponse(req *http.Request, code int, reason metav1.StatusReason, msg string) *http.Response {
	body, err := json.Marshal(&metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   reason,
		Code:     int32(code), //nolint:gosec // an HTTP status code
	})
	if err != nil {
		panic(err) // a metav1.Status always marshals
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", code, http.StatusText(code)),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// resourceOf names the resource of an API path: /apis/g/v/namespaces/ns/passcodes/x/status is
// "passcodes/status", /api/v1/namespaces/ns/secrets/x is "secrets".
func resourceOf(path string) string {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(seg) > 2 && seg[0] == "api":
		seg = seg[2:]
	case len(seg) > 3 && seg[0] == "apis":
		seg = seg[3:]
	default:
		return path
	}
	if len(seg) > 2 && seg[0] == "namespaces" {
		seg = seg[2:]
	}
	if len(seg) > 2 {
		return seg[0] + "/" + seg[2]
	}
	return seg[0]
}
