package accessserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// decodeVerifyRequestBefore is decodeVerifyRequest as it was before it took plain bodies apart by
// hand: encoding/json for every body, which decodeVerifyRequestJSON still is (the fallback for
// every body the fast path does not take). The tests hold the fast path to it.
var decodeVerifyRequestBefore = decodeVerifyRequestJSON

// decoded is what a decoder made of a body, comparable.
type decoded struct {
	req verifyRequest
	err string
}

func decodeWith(decode func(io.Reader) (verifyRequest, error), r io.Reader) decoded {
	req, err := decode(r)
	d := decoded{req: req}
	if err != nil {
		d.err = err.Error()
		if !errors.Is(err, errBadRequest) {
			d.err = "not a bad request: " + d.err
		}
	}
	return d
}

// readers are the ways a body may arrive: all at once, a byte at a time, in halves, with the last
// bytes and io.EOF together, and behind http.MaxBytesReader as the handler reads it.
var readers = map[string]func(string) io.Reader{
	"whole":         func(s string) io.Reader { return strings.NewReader(s) },
	"byte by byte":  func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
	"halves":        func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
	"eof with data": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
	"max bytes reader": func(s string) io.Reader {
		return http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(s)), maxBodyBytes)
	},
}

// assertDecodesAsBefore: whatever way the body arrives, decodeVerifyRequest gives what the
// encoding/json decoder gave for it (the same fields, or the same error message).
func assertDecodesAsBefore(t *testing.T, body string) {
	t.Helper()
	for name, reader := range readers {
		if got, want := decodeWith(decodeVerifyRequest, reader(body)), decodeWith(decodeVerifyRequestBefore, reader(body)); got != want {
			t.Fatalf("%q (%s): got %+v, before %+v", body, name, got, want)
		}
	}
	// The handler reads a body declared to fit without MaxBytesReader, and any other through it.
	if len(body) <= maxBodyBytes {
		behind := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(body)), maxBodyBytes)
		if got, before := decodeWith(decodeVerifyRequest, strings.NewReader(body)), decodeWith(decodeVerifyRequestBefore, behind); got != before {
			t.Fatalf("%q as the handler reads it: got %+v, before %+v", body, got, before)
		}
	}
	// A read error after the body: the same error, wherever it comes.
	boom := errors.New("connection reset")
	if got, before := decodeWith(decodeVerifyRequest, io.MultiReader(strings.NewReader(body), errReader{boom})),
		decodeWith(decodeVerifyRequestBefore, io.MultiReader(strings.NewReader(body), errReader{boom})); got != before {
		t.Fatalf("%q then a read error: got %+v, before %+v", body, got, before)
	}
}

func TestDecodeVerifyRequestAsBefore(t *testing.T) {
	valid := `{"account":"team","passcode":"dpc_ABCDEFGHIJKLMNOPQRSTUVWXYZ"}`
	pad := func(n int) string { return strings.Repeat(" ", n) }
	cases := []struct {
		body  string
		plain bool // taken apart by hand, not by encoding/json
	}{
		{valid, true},
		{` {"passcode" : "p" , "account":"a"} `, true},
		{"\t{\n\"account\"\r:\"a\",\"passcode\":\"p\"}\n", true},
		{`{"account":"a b!#$%&'()*+,-./:;<=>?@[]^_` + "`" + `{|}~","passcode":"p"}`, true},
		{`{}`, true},
		{`{"account":""}`, true},
		{`{"account":"a"}`, true},
		{`{"passcode":"p"}`, true},
		{`{"account":"a","passcode":""}`, true},
		{`{"account":"` + strings.Repeat("a", 63) + `","passcode":"` + strings.Repeat("p", 256) + `"}`, true},
		{`{"account":"` + strings.Repeat("a", 64) + `","passcode":"p"}`, true},
		{`{"account":"a","passcode":"` + strings.Repeat("p", 257) + `"}`, true},
		{valid + pad(maxBodyBytes-1-len(valid)), true}, // 4095 bytes
		// encoding/json decides all of these.
		{valid + pad(maxBodyBytes-len(valid)), false},   // exactly 4096 bytes
		{valid + pad(maxBodyBytes+1-len(valid)), false}, // 4097
		{valid + pad(5000), false},
		{valid + pad(5000) + "x", false},
		{valid + pad(4000) + "x", false},
		{valid + pad(maxBodyBytes-len(valid)) + "x", false},
		{`{"account":"a","passcode":"` + strings.Repeat("p", 5000) + `"}`, false},
		{`{"account":"a","passcode":"` + strings.Repeat("p", 4060) + `"}` + pad(100), false},
		{`{"Account":"a","passcode":"p"}`, false},
		{`{"ACCOUNT":"a","PASSCODE":"p"}`, false},
		{`{"account":"a","account":"b","passcode":"p"}`, false},
		{`{"account":"a","passcode":"p","passcode":"q"}`, false},
		{`{"account":"a\u0062","passcode":"p"}`, false},
		{`{"account":"a\"b","passcode":"p\\"}`, false},
		{`{"account":"a\/b","passcode":"p"}`, false},
		{`{"account":"é","passcode":"p"}`, false},
		{"{\"account\":\"\xff\",\"passcode\":\"p\"}", false},
		{"{\"account\":\"a\x7f\",\"passcode\":\"p\"}", false},
		{"{\"account\":\"a\x01\",\"passcode\":\"p\"}", false},
		{"{\"account\":\"a\u2028\",\"passcode\":\"p\"}", false},
		{`{"account":null,"passcode":"p"}`, false},
		{`{"account":1,"passcode":"p"}`, false},
		{`{"account":true,"passcode":"p"}`, false},
		{`{"account":["a"],"passcode":"p"}`, false},
		{`{"account":{},"passcode":"p"}`, false},
		{`{"account":"a","passcode":"p",}`, false},
		{`{"account":"a" "passcode":"p"}`, false},
		{`{"account":"a","passcode":"p"}}`, false}, // accepted: the decoder's More() stops at a '}'
		{`{"account":"a","passcode":"p"}]`, false}, // and at a ']'
		{`{"account":"a","passcode":"p"} x`, false},
		{`{"account":"a","passcode":"p"}{}`, false},
		{`{"account":"a","passcode":"p"} 1`, false},
		{`{"account":"a","passcode":"p"}` + "\x00", false},
		{"\ufeff" + valid, false},
		{"\v" + valid, false},
		{`{"account":"a","passcode":"p","x":1}`, false},
		{`{"x":1}`, false},
		{`{"":"a"}`, false},
		{`[]`, false},
		{`"x"`, false},
		{`null`, false},
		{`1`, false},
		{`true`, false},
		{``, false},
		{`   `, false},
		{`{`, false},
		{`}`, false},
		{`{"account"`, false},
		{`{"account":`, false},
		{`{"account":"a`, false},
		{`{"account":"a",`, false},
		{`{"account":"a","passcode":"p"`, false},
		{`{"account":"team","passcode":"dpc_SECRET` + "\x00" + `"`, false},
	}
	for _, c := range cases {
		_, plain := parsePlainVerifyRequest([]byte(c.body))
		plain = plain && len(c.body) < maxBodyBytes
		if plain != c.plain {
			t.Errorf("%q: taken apart by hand %v, want %v", c.body, plain, c.plain)
		}
		assertDecodesAsBefore(t, c.body)
	}
}

// TestVerifyHandlerDecodesAsBefore: through the handler, with a declared length (read whole, no
// MaxBytesReader) or without one (chunked), a body gets the answer encoding/json gave it.
func TestVerifyHandlerDecodesAsBefore(t *testing.T) {
	h := fuzzServer(t)
	bodies := []string{
		`{"account":"team","passcode":"dpc_ABCDEFGHIJKLMNOPQRSTUVWXYZ"}`,
		`{"account":"team","passcode":"x","extra":1}`,
		`{"account":"team"}`,
		`{"account":"team","passcode":"p"}}`,
		`{"account":"team","passcode":"p"} x`,
		`{"account":"team","passcode":"` + strings.Repeat("p", 5000) + `"}`,
		`{"account":"team","passcode":"p"}` + strings.Repeat(" ", 300<<10),
	}
	for i, body := range bodies {
		for _, chunked := range []bool{false, true} {
			r := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.RemoteAddr = fmt.Sprintf("192.0.2.%d:1234", 2*i+1+btoi(chunked))
			if chunked {
				r.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			wantStatus, wantBody := http.StatusUnauthorized, string(deniedBody) // no such passcode
			before := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(body)), maxBodyBytes)
			if _, err := decodeVerifyRequestBefore(before); err != nil {
				wantStatus, wantBody = http.StatusBadRequest, encodeBefore(t, errorBody(err.Error()))
			}
			if rec.Code != wantStatus || rec.Body.String() != wantBody {
				t.Errorf("%.60q (chunked %v): %d %q, want %d %q", body, chunked, rec.Code, rec.Body, wantStatus, wantBody)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FuzzDecodeVerifyRequest: no body panics, every error is a bad request that does not echo the
// passcode, every accepted request has both fields within their limits, and every body decodes to
// what encoding/json made of it (fields or error message), however it is read.
func FuzzDecodeVerifyRequest(f *testing.F) {
	f.Add(`{"account":"team","passcode":"dpc_ABCDEFGHIJKLMNOPQRSTUVWXYZ"}`)
	f.Add(`{"account":"team","passcode":"x","x":1}`)
	f.Add(`{"account":null}`)
	f.Add(`"just a string"`)
	f.Add(` {"passcode" : "p" , "account":"a"} `)
	f.Add(`{"ACCOUNT":"a","passcode":"p"}`)
	f.Add(`{"account":"a","account":"b","passcode":"p"}`)
	f.Add(`{"account":"a\u0062","passcode":"p"}`)
	f.Add(`{"account":"a","passcode":"p"}}`)
	f.Add(`{"account":"a","passcode":"p"} x`)
	f.Add("{\"account\":\"\xff\",\"passcode\":\"p\"}")
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeVerifyRequest(strings.NewReader(body))
		if err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("not a bad request: %v", err)
			}
		} else if req.Account == "" || req.Passcode == "" || len(req.Account) > maxAccountLen || len(req.Passcode) > maxPasscodeLen {
			t.Fatalf("accepted %+v", req)
		}
		assertDecodesAsBefore(t, body)
	})
}

// TestCredentialsFit: the request path's check of an account and a passcode accepts exactly what
// checkCredentials accepts.
func TestCredentialsFit(t *testing.T) {
	for _, account := range []string{"", "a", strings.Repeat("a", 63), strings.Repeat("a", 64)} {
		for _, code := range []string{"", "p", strings.Repeat("p", 256), strings.Repeat("p", 257)} {
			if fit, err := credentialsFit(account, code), checkCredentials(account, code, "", ""); fit != (err == nil) {
				t.Errorf("account of %d, passcode of %d: fit %v, checkCredentials %v", len(account), len(code), fit, err)
			}
		}
	}
}
